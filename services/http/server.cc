#include "services/http/server.h"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <chrono>
#include <optional>


namespace dangol::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

// One connection: read a request, hand it to the handler, write its answer,
// and again while the client keeps the connection alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const ServerOptions& options, const Handler& handler,
          std::shared_ptr<ServerStats> stats)
      : stream_(std::move(socket)), deadline_(stream_.get_executor()), options_(options), handler_(handler), stats_(std::move(stats)) {
    stats_->connections_open++;
  }
  ~Session() { stats_->connections_open--; }

  void start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

  // Refuses the connection at once: the server is at its connection limit.
  void refuse() {
    response_ = error_response(beast_http::status::service_unavailable, "too many connections", 11, false);
    response_->prepare_payload();
    keep_alive_ = false;
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->write(); });
  }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
    parser_->body_limit(options_.max_body_bytes);
    // An idle keep-alive connection may wait longer than a request that has
    // started; both are bounded. Our own timer, not the stream's expiry:
    // that one closes the socket, and a slow client should still hear 408.
    stream_.expires_never();
    timed_out_ = false;
    deadline_.expires_after(first_request_ ? options_.request_timeout : options_.idle_timeout);
    deadline_.async_wait([weak = weak_from_this()](beast::error_code ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      self->timed_out_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
    beast_http::async_read(stream_, buffer_, *parser_,
                           [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    first_request_ = false;
    deadline_.cancel();
    if (ec == beast_http::error::end_of_stream || ec == asio::error::connection_reset) return close();
    if (timed_out_ && ec) {
      stats_->timeouts++;
      // Tell a client that started a request but was too slow; an idle
      // keep-alive connection is just closed.
      if (buffer_.size() == 0 && !parser_->got_some()) return close();
      return fail(beast_http::status::request_timeout, "request not received in time");
    }
    if (ec == beast_http::error::body_limit) {
      return fail(beast_http::status::payload_too_large,
                  "body over " + std::to_string(options_.max_body_bytes) + " bytes");
    }
    if (ec == beast_http::error::header_limit) {
      return fail(beast_http::status::request_header_fields_too_large,
                  "headers over " + std::to_string(options_.max_header_bytes) + " bytes");
    }
    if (ec) return fail(beast_http::status::bad_request, "malformed HTTP request: " + ec.message());

    stats_->requests++;
    request_ = parser_->release();
    keep_alive_ = request_.keep_alive();
    // The handler has the whole request time budget again to answer (wait
    // mode sets its own, shorter deadline).
    stream_.expires_never();
    auto send = std::make_shared<Reply::Send>(
        [self = shared_from_this(), version = request_.version()](Response response) {
          asio::post(self->stream_.get_executor(), [self, version, response = std::move(response)]() mutable {
            self->respond(std::move(response), version);
          });
        });
    handler_(request_, Reply(std::move(send)));
  }

  void respond(Response response, unsigned version) {
    response.version(version);
    response.keep_alive(keep_alive_);
    if (response.find(beast_http::field::server) == response.end()) response.set(beast_http::field::server, "campaignd");
    response.prepare_payload();
    if (request_.method() == beast_http::verb::head) {
      // The headers a GET would get, Content-Length included, and no body
      // (RFC 9110 §9.3.2): a body would be read as the next response.
      const std::size_t length = response.body().size();
      response.body().clear();
      response.content_length(length);
    }
    response_ = std::move(response);
    write();
  }

  // Answers an unusable request and closes: the rest of its bytes cannot
  // be trusted to start the next request.
  void fail(beast_http::status status, std::string_view message) {
    stats_->bad_requests++;
    keep_alive_ = false;
    linger_ = true;
    response_ = error_response(status, message, 11, false);
    response_->prepare_payload();
    write();
  }

  void write() {
    stream_.expires_after(options_.request_timeout);
    beast_http::async_write(stream_, *response_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_write(ec);
    });
  }

  void on_write(beast::error_code ec) {
    response_.reset();
    if (!ec && linger_) return linger();
    if (ec || !keep_alive_) return close();
    read();
  }

  // After answering a request it did not read to its end (413 on a body
  // over the limit, 431, 400, 408), the server stops sending and reads and
  // drops what the client still sends, for a short while, before it
  // closes. Closing with unread bytes makes the kernel reset the
  // connection: the client's write fails (EPIPE) and the answer can be
  // lost. nginx calls this a lingering close.
  void linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_never();
    deadline_.expires_after(kLingerTime);
    deadline_.async_wait([weak = weak_from_this()](beast::error_code ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
    drain();
  }

  void drain() {
    stream_.socket().async_read_some(asio::buffer(discard_),
                                     [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                                       self->drained_ += n;
                                       if (ec || self->drained_ > kLingerBytes) {
                                         self->deadline_.cancel();
                                         return self->close();
                                       }
                                       self->drain();
                                     });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  asio::steady_timer deadline_;
  bool timed_out_ = false;
  const ServerOptions& options_;
  const Handler& handler_;
  std::shared_ptr<ServerStats> stats_;
  beast::flat_buffer buffer_{8192};
  std::optional<beast_http::request_parser<beast_http::string_body>> parser_;
  Request request_;
  std::optional<Response> response_;
  bool keep_alive_ = true;
  bool first_request_ = true;
  // The lingering close after an error answer: at most this long, and
  // this many bytes dropped.
  static constexpr std::chrono::seconds kLingerTime{2};
  static constexpr std::size_t kLingerBytes = 16 << 20;
  bool linger_ = false;
  std::size_t drained_ = 0;
  std::array<char, 16384> discard_;
};

void append_json_string(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  *out += '"';
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      *out += '\\';
      *out += c;
    } else if (u < 0x20) {
      *out += "\\u00";
      *out += kHex[u >> 4];
      *out += kHex[u & 15];
    } else {
      *out += c;
    }
  }
  *out += '"';
}

}  // namespace

Response json_response(beast_http::status status, std::string body, unsigned version, bool keep_alive) {
  Response response(status, version);
  response.set(beast_http::field::content_type, "application/json");
  response.keep_alive(keep_alive);
  response.body() = std::move(body);
  return response;
}

Response error_response(beast_http::status status, std::string_view message, unsigned version, bool keep_alive) {
  std::string body = "{\"error\":";
  append_json_string(message, &body);
  body += "}";
  return json_response(status, std::move(body), version, keep_alive);
}

bool Server::start(ServerOptions options, Handler handler, std::unique_ptr<Server>* out, std::string* error) {
  std::unique_ptr<Server> server(new Server());
  server->options_ = std::move(options);
  server->handler_ = std::move(handler);
  server->io_ = std::make_unique<asio::io_context>(server->options_.threads);
  const std::string where = server->options_.address + ":" + std::to_string(server->options_.port);
  beast::error_code ec;
  auto address = asio::ip::make_address(server->options_.address, ec);
  if (ec) {
    *error = where + ": not an IP address";
    return false;
  }
  tcp::endpoint endpoint(address, server->options_.port);
  server->acceptor_ = std::make_unique<tcp::acceptor>(*server->io_);
  auto& acceptor = *server->acceptor_;
  if (acceptor.open(endpoint.protocol(), ec); !ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    *error = where + ": " + ec.message();
    return false;
  }
  server->port_ = acceptor.local_endpoint().port();
  server->accept();
  for (int i = 0; i < std::max(1, server->options_.threads); ++i) {
    server->threads_.emplace_back([io = server->io_.get()] { io->run(); });
  }
  *out = std::move(server);
  return true;
}

void Server::accept() {
  acceptor_->async_accept(asio::make_strand(*io_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;  // stopping
    if (!ec) {
      socket.set_option(tcp::no_delay(true), ec);
      auto session = std::make_shared<Session>(std::move(socket), options_, handler_, stats_);
      if (static_cast<std::size_t>(stats_->connections_open.load()) > options_.max_connections) {
        stats_->connections_refused++;
        session->refuse();
      } else {
        session->start();
      }
    }
    // Accept errors (out of file descriptors, …) are per connection: keep
    // accepting.
    accept();
  });
}

Server::~Server() {
  if (acceptor_) {
    asio::post(*io_, [this] {
      beast::error_code ignored;
      acceptor_->close(ignored);
    });
  }
  if (io_) io_->stop();
  for (auto& t : threads_) t.join();
}

}  // namespace dangol::http
