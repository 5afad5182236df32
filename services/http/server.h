#pragma once
// A small HTTP/1.1 server on Boost.Beast: keep-alive, and a limit on
// everything a client controls (STYLE habit 5): header bytes, body bytes,
// open connections, and the time a request may take to arrive. What a
// request means is the handler's business (services/campaignd/api.h).
//
// Memory: a connection holds at most one response at a time (the next
// request is read once the answer is written), for at most request_timeout,
// and all connections together hold at most max_queued_response_bytes_total
// bytes of response bodies; above that, requests are answered 503.
//
// Threads: `threads` I/O threads run the io_context. Each connection is on
// its own strand, so one connection's handler calls never overlap; handlers
// of different connections run in parallel. A handler answers by calling its
// Reply exactly once, from any thread, now or later (POST /v1/events?wait=1
// answers when the decisions arrive).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http.hpp>

namespace dangol::http {

namespace beast_http = boost::beast::http;
using Request = beast_http::request<beast_http::string_body>;
using Response = beast_http::response<beast_http::string_body>;

// Answers one request; safe to call from any thread, once. Copyable: the
// connection stays open until it is called or its copies are destroyed.
class Reply {
 public:
  using Send = std::function<void(Response)>;
  explicit Reply(std::shared_ptr<Send> send) : send_(std::move(send)) {}
  void operator()(Response response) const { (*send_)(std::move(response)); }

 private:
  std::shared_ptr<Send> send_;
};

using Handler = std::function<void(Request& request, Reply reply)>;

struct ServerOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 8080;  // 0: any free port (see Server::port())
  int threads = 2;
  // The header fields, the empty line after them included, and apart the
  // request line: 431 above.
  std::size_t max_header_bytes = 16 << 10;
  std::size_t max_body_bytes = 1 << 20;  // CONTRACT §5: 413 above 1 MiB
  std::size_t max_connections = 1024;
  // From the first byte of a request to its last (a slow client is cut off),
  // and how long an idle keep-alive connection stays open. request_timeout
  // also bounds the writing of an answer: a client that does not read it
  // within that time is cut off, and the answer freed.
  std::chrono::milliseconds request_timeout{10'000};
  std::chrono::milliseconds idle_timeout{60'000};
  // Response body bytes waiting for their clients to read them, over all
  // connections (server.cc, Session::respond, says why 256 MiB).
  std::size_t max_queued_response_bytes_total = 256 << 20;
};

struct ServerStats {
  std::atomic<std::int64_t> connections_open{0}, connections_refused{0}, requests{0}, timeouts{0}, bad_requests{0};
  // Response body bytes being written now, the most ever at once, and the
  // requests answered 503 because they would have exceeded the bound.
  std::atomic<std::int64_t> bytes_queued{0}, bytes_queued_peak{0}, busy_refusals{0};
  // Answers not read by their clients within request_timeout.
  std::atomic<std::int64_t> write_timeouts{0};
  // Times the server ran out of file descriptors (or socket memory) and
  // paused accepting (one per episode, not per retry).
  std::atomic<std::int64_t> accept_backoffs{0};
};

// JSON error bodies, CONTRACT §5: {"error":"…"}.
Response json_response(beast_http::status status, std::string body, unsigned version = 11, bool keep_alive = true);
Response error_response(beast_http::status status, std::string_view message, unsigned version = 11,
                        bool keep_alive = true);

class Server {
 public:
  // Binds and starts serving; on failure returns false with *error (for
  // example "127.0.0.1:8080: Address already in use").
  static bool start(ServerOptions options, Handler handler, std::unique_ptr<Server>* out, std::string* error);
  // Stops accepting, closes connections and joins the I/O threads.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  std::uint16_t port() const { return port_; }
  const ServerStats& stats() const { return *stats_; }

 private:
  Server() = default;
  void accept();
  void back_off_accepting(const boost::system::error_code& ec);

  ServerOptions options_;
  Handler handler_;
  std::shared_ptr<ServerStats> stats_ = std::make_shared<ServerStats>();
  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  // Out of descriptors: the pause before accepting again, 0 when accepting
  // normally. Used by the accept chain only, one step at a time.
  std::unique_ptr<boost::asio::steady_timer> accept_timer_;
  std::chrono::milliseconds accept_backoff_{0};
  std::vector<std::thread> threads_;
  std::uint16_t port_ = 0;
};

}  // namespace dangol::http
