#include "services/http/server.h"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/system/errc.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <optional>
#include <string_view>


namespace dangol::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

// The bytes read ahead beyond a whole header: the start of a body or of the
// next pipelined request.
constexpr std::size_t kReadAhead = 8 << 10;

// Takes `bytes` from the server-wide budget of queued response bytes, or
// returns false if that would exceed `limit`. A compare-and-swap rather
// than add-then-check, so the total never goes over, even for a moment.
bool reserve_queued(ServerStats& stats, std::size_t limit, std::size_t bytes) {
  const auto wanted = static_cast<std::int64_t>(bytes);
  std::int64_t queued = stats.bytes_queued.load();
  do {
    if (wanted > static_cast<std::int64_t>(limit) - queued) return false;
  } while (!stats.bytes_queued.compare_exchange_weak(queued, queued + wanted));
  std::int64_t peak = stats.bytes_queued_peak.load();
  while (queued + wanted > peak && !stats.bytes_queued_peak.compare_exchange_weak(peak, queued + wanted)) {
  }
  return true;
}

// accept() failing for want of a descriptor or of kernel memory: it fails
// again at once until a connection closes, so retrying at once spins.
bool out_of_resources(const beast::error_code& ec) {
  using boost::system::errc::errc_t;
  return ec == errc_t::too_many_files_open || ec == errc_t::too_many_files_open_in_system ||
         ec == errc_t::no_buffer_space || ec == errc_t::not_enough_memory;
}

// One connection: read a request, hand it to the handler, write its answer,
// and again while the client keeps the connection alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const ServerOptions& options, const Handler& handler,
          std::shared_ptr<ServerStats> stats)
      : stream_(std::move(socket)),
        deadline_(stream_.get_executor()),
        options_(options),
        handler_(handler),
        stats_(std::move(stats)),
        // A whole header of the largest size allowed must fit (see
        // on_head): a buffer of 8 KiB, under the 16 KiB limit, ended
        // headers of 8 to 16 KiB with "buffer overflow", a 400.
        buffer_(2 * options.max_header_bytes + kReadAhead) {
    stats_->connections_open++;
  }
  ~Session() {
    release_queued();
    stats_->connections_open--;
  }

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
    read_head(0);
  }

  // Reads until buffer_ holds the request's whole header (a pipelined one
  // may be there already). Not asio::async_read_until: that works on a
  // copy of the buffer it is given.
  void read_head(std::size_t searched) {
    const std::string_view data(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    if (const std::size_t end = data.find("\r\n\r\n", searched); end != std::string_view::npos) {
      return on_head({}, end + 4);
    }
    const std::size_t room = beast::read_size(buffer_, 64 << 10);
    if (room == 0) return on_head(beast_http::error::header_limit, 0);  // the buffer filled up first
    // The next search starts 3 bytes back: "\r\n\r\n" may straddle two reads.
    const std::size_t next = std::max<std::size_t>(data.size(), 3) - 3;
    stream_.async_read_some(buffer_.prepare(room),
                            [self = shared_from_this(), next](beast::error_code ec, std::size_t n) {
                              self->buffer_.commit(n);
                              if (ec) return self->on_head(ec, 0);
                              self->read_head(next);
                            });
  }

  // The request's header is in buffer_ (head_bytes, the empty line after it
  // included) before the parser sees any of it, so that the limit counts
  // it exactly. Beast's header_limit counts from wherever a read left off,
  // so a header that arrived in pieces could be refused under the limit
  // (16,384 bytes after a 1 KiB request line, in 1,448-byte segments) or
  // pass a few bytes over it.
  void on_head(beast::error_code ec, std::size_t head_bytes) {
    if (!ec && head_too_large(head_bytes)) ec = beast_http::error::header_limit;
    if (ec == asio::error::eof) {
      ec = buffer_.size() == 0 ? beast_http::error::end_of_stream : beast_http::error::partial_message;
    }
    if (ec) return on_read(ec);
    beast_http::async_read(stream_, buffer_, *parser_,
                           [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  // The request line and the header fields each within max_header_bytes,
  // as Beast counts them when it gets the header whole.
  bool head_too_large(std::size_t head_bytes) const {
    const std::string_view head(static_cast<const char*>(buffer_.data().data()), head_bytes);
    const std::size_t line = head.find("\r\n") + 2;
    return line > options_.max_header_bytes || head_bytes - line > options_.max_header_bytes;
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
    // No room for any answer: spare the handler the work (respond() checks
    // again with the answer's real size).
    if (stats_->bytes_queued.load() >= static_cast<std::int64_t>(options_.max_queued_response_bytes_total)) {
      return respond_busy(request_.version(), 0);
    }
    auto send = std::make_shared<Reply::Send>(
        [self = shared_from_this(), version = request_.version()](Response response) {
          asio::post(self->stream_.get_executor(), [self, version, response = std::move(response)]() mutable {
            self->respond(std::move(response), version);
          });
        });
    handler_(request_, Reply(std::move(send)));
  }

  // A response body stays in memory until its client has read it (less
  // what the kernel's socket buffer takes), so clients that do not read
  // could pin any amount: 300 of them asking for GET /metrics (9.5 MB)
  // held 3.3 GB. Two bounds: per connection, one response at a time (the
  // next request is read after the answer is written) for at most
  // request_timeout (write()); across connections, the bytes queued, here.
  // Above the bound the request is answered 503 at once rather than
  // queued: the client may retry, while waiting for room would hold the
  // connection and the handler's answer anyway. 256 MiB by default: some
  // twenty-five /metrics answers at once, more than scrapers and
  // dashboards ask for, and a quarter of the 1 GiB campaignd's pod
  // requests (deploy/k8s/statefulset.yaml).
  void respond(Response response, unsigned version) {
    finish(response, version);
    if (!reserve_queued(*stats_, options_.max_queued_response_bytes_total, response.body().size())) {
      return respond_busy(version, response.body().size());
    }
    queued_ = response.body().size();
    response_ = std::move(response);
    write();
  }

  // The 503 when the queued bytes are at their bound. Not counted in
  // them: it is small and would otherwise never fit.
  void respond_busy(unsigned version, std::size_t answer_bytes) {
    stats_->busy_refusals++;
    std::string message = "server busy: ";
    if (answer_bytes > 0) message += "an answer of " + std::to_string(answer_bytes) + " bytes would exceed the ";
    message += std::to_string(options_.max_queued_response_bytes_total) + " bytes of answers held for clients still " +
               "reading them (" + std::to_string(stats_->bytes_queued.load()) + " held now); retry later";
    Response response = error_response(beast_http::status::service_unavailable, message);
    response.set(beast_http::field::retry_after, "1");
    finish(response, version);
    response_ = std::move(response);
    write();
  }

  void finish(Response& response, unsigned version) const {
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
  }

  void release_queued() {
    stats_->bytes_queued -= static_cast<std::int64_t>(queued_);
    queued_ = 0;
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

  // The whole answer must be read within request_timeout, or the stream
  // closes the socket: a client that stops reading frees its answer then.
  void write() {
    stream_.expires_after(options_.request_timeout);
    beast_http::async_write(stream_, *response_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_write(ec);
    });
  }

  void on_write(beast::error_code ec) {
    if (ec == beast::error::timeout) stats_->write_timeouts++;
    response_.reset();
    release_queued();
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
  beast::flat_buffer buffer_;
  std::optional<beast_http::request_parser<beast_http::string_body>> parser_;
  Request request_;
  std::optional<Response> response_;
  std::size_t queued_ = 0;  // of response_'s bytes, in stats_->bytes_queued
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
  server->accept_timer_ = std::make_unique<asio::steady_timer>(*server->io_);
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
    if (out_of_resources(ec)) return back_off_accepting(ec);
    if (!ec) {
      if (accept_backoff_.count() != 0) {
        spdlog::info("http: accepting connections again ({} open)", stats_->connections_open.load());
        accept_backoff_ = std::chrono::milliseconds(0);
      }
      socket.set_option(tcp::no_delay(true), ec);
      auto session = std::make_shared<Session>(std::move(socket), options_, handler_, stats_);
      if (static_cast<std::size_t>(stats_->connections_open.load()) > options_.max_connections) {
        stats_->connections_refused++;
        session->refuse();
      } else {
        session->start();
      }
    }
    // Other accept errors (a client that gave up before it was accepted,
    // …) are per connection: keep accepting.
    accept();
  });
}

// Out of descriptors: waits 100 ms before accepting again, twice as long
// after each failure up to 1 s, until a connection closes. Pending clients
// wait in the listen backlog meanwhile. Logs once per episode: a failure
// every retry would flood the log while the server is already in trouble.
void Server::back_off_accepting(const beast::error_code& ec) {
  static constexpr std::chrono::milliseconds kFirst{100}, kMost{1'000};
  if (accept_backoff_.count() == 0) {
    stats_->accept_backoffs++;
    accept_backoff_ = kFirst;
    spdlog::warn("http: cannot accept connections: {} ({} open); retrying after {} ms, then up to every {} ms",
                 ec.message(), stats_->connections_open.load(), kFirst.count(), kMost.count());
  } else {
    accept_backoff_ = std::min(accept_backoff_ * 2, kMost);
  }
  accept_timer_->expires_after(accept_backoff_);
  accept_timer_->async_wait([this](beast::error_code wait_ec) {
    if (!wait_ec) accept();
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
