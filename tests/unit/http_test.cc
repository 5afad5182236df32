// The HTTP building blocks: roles and the auth file, constant-time token
// comparison, the Prometheus text format, the file descriptor limit, and
// the server's limits, over loopback sockets.

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "services/http/auth.h"
#include "services/http/fd_limit.h"
#include "services/http/prometheus.h"
#include "services/http/server.h"

namespace dangol::http {
namespace {

using namespace std::chrono_literals;

TEST(Roles, ParsesTheFourKindsAndNothingElse) {
  EXPECT_EQ(parse_role("admin")->kind, Role::Kind::kAdmin);
  EXPECT_EQ(parse_role("finance")->kind, Role::Kind::kFinance);
  EXPECT_EQ(parse_role("ingest")->kind, Role::Kind::kIngest);
  auto merchant = parse_role("merchant:m-001");
  ASSERT_TRUE(merchant);
  EXPECT_EQ(merchant->kind, Role::Kind::kMerchant);
  EXPECT_EQ(merchant->merchant_id, "m-001");
  EXPECT_EQ(merchant->name(), "merchant:m-001");
  for (const char* bad : {"root", "Admin", "merchant:", "merchant:a b", "merchant:x/y", "", "finance "}) {
    EXPECT_FALSE(parse_role(bad)) << bad;
  }
}

TEST(Roles, PermissionsFollowTheContract) {
  EXPECT_TRUE(parse_role("admin")->may_post_events());
  EXPECT_FALSE(parse_role("finance")->may_post_events());
  EXPECT_TRUE(parse_role("finance")->may_read_all());
  EXPECT_TRUE(parse_role("ingest")->may_post_events());
  EXPECT_FALSE(parse_role("ingest")->is_admin());
  EXPECT_TRUE(parse_role("merchant:m-1")->may_post_events());
  EXPECT_FALSE(parse_role("merchant:m-1")->may_read_all());
}

TEST(AuthFile, MapsBearerTokensToRoles) {
  Auth auth;
  std::string error;
  ASSERT_TRUE(Auth::from_yaml("tokens:\n"
                              "  - token: \"a-long-random-secret\"\n    role: admin\n"
                              "  - token: \"another-secret-xyz\"\n    role: \"merchant:m-001\"\n",
                              "auth.yaml", &auth, &error))
      << error;
  EXPECT_TRUE(auth.enabled());
  EXPECT_EQ(auth.authenticate("Bearer a-long-random-secret")->kind, Role::Kind::kAdmin);
  EXPECT_EQ(auth.authenticate("Bearer another-secret-xyz")->merchant_id, "m-001");
  EXPECT_FALSE(auth.authenticate("Bearer a-long-random-secre"));   // a prefix
  EXPECT_FALSE(auth.authenticate("Bearer a-long-random-secretX"));  // longer
  EXPECT_FALSE(auth.authenticate("a-long-random-secret"));          // no scheme
  EXPECT_FALSE(auth.authenticate("Basic a-long-random-secret"));
  EXPECT_FALSE(auth.authenticate(""));
  EXPECT_FALSE(Auth::open_access().enabled());
}

TEST(AuthFile, RejectsBadFilesNamingTheEntry) {
  struct Case {
    const char* yaml;
    const char* message;
  };
  const Case cases[] = {
      {"tokens: [", "not valid YAML"},
      {"users: []", "expected a map with a 'tokens' list"},
      {"tokens: []", "no tokens"},
      {"tokens:\n  - token: \"a-long-random-secret\"\n", "tokens[0]: expected 'token' and 'role'"},
      {"tokens:\n  - token: \"short\"\n    role: admin\n", "tokens[0]: token must be 16 to 4096 bytes"},
      {"tokens:\n  - token: \"has a space in it ok\"\n    role: admin\n", "printable ASCII without spaces"},
      {"tokens:\n  - token: \"a-long-random-secret\"\n    role: root\n", "tokens[0]: unknown role 'root'"},
      {"tokens:\n  - token: \"a-long-random-secret\"\n    role: admin\n  - token: \"a-long-random-secret\"\n    role: "
       "finance\n",
       "tokens[1]: token listed twice"},
  };
  for (const Case& c : cases) {
    Auth auth;
    std::string error;
    EXPECT_FALSE(Auth::from_yaml(c.yaml, "auth.yaml", &auth, &error)) << c.yaml;
    EXPECT_NE(error.find(c.message), std::string::npos) << error;
    EXPECT_EQ(error.rfind("auth.yaml: ", 0), 0u) << error;
  }
  Auth auth;
  std::string error;
  EXPECT_FALSE(Auth::load("/nonexistent/auth.yaml", &auth, &error));
  EXPECT_NE(error.find("cannot read"), std::string::npos);
}

TEST(ConstantTimeEquals, ComparesWholeStrings) {
  EXPECT_TRUE(constant_time_equals("", ""));
  EXPECT_TRUE(constant_time_equals("secret", "secret"));
  EXPECT_FALSE(constant_time_equals("secret", "secreT"));
  EXPECT_FALSE(constant_time_equals("secret", "secrets"));
  EXPECT_FALSE(constant_time_equals("", "x"));
  EXPECT_FALSE(constant_time_equals(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

TEST(PrometheusText, WritesFamiliesWithEscapedLabels) {
  PrometheusText m;
  m.family("dangol_events_total", "counter", "Events by outcome\nand reason \\ here");
  m.sample("dangol_events_total", {{"outcome", "APPLIED"}, {"reason", ""}}, std::int64_t{42});
  m.sample("dangol_events_total", {{"outcome", "RE\"J\\E\nCTED"}}, std::int64_t{1});
  m.family("dangol_ready", "gauge", "Ready");
  m.sample("dangol_ready", {}, 0.5);
  EXPECT_EQ(m.text(),
            "# HELP dangol_events_total Events by outcome\\nand reason \\\\ here\n"
            "# TYPE dangol_events_total counter\n"
            "dangol_events_total{outcome=\"APPLIED\",reason=\"\"} 42\n"
            "dangol_events_total{outcome=\"RE\\\"J\\\\E\\nCTED\"} 1\n"
            "# HELP dangol_ready Ready\n"
            "# TYPE dangol_ready gauge\n"
            "dangol_ready 0.5\n");
}

TEST(PrometheusText, HistogramBucketsAreCumulativeWithInf) {
  AtomicHistogram<3> h({0.01, 0.1, 1});
  // Binary-exact values; 1.0 sits on a bound, which is inclusive (le).
  for (double v : {0.0078125, 0.0078125, 0.0625, 1.0, 2.0, 3.0}) h.observe(v);
  PrometheusText m;
  h.write(m, "dangol_batch_commit_seconds", {{"shard", "0"}});
  EXPECT_EQ(m.text(),
            "dangol_batch_commit_seconds_bucket{shard=\"0\",le=\"0.01\"} 2\n"
            "dangol_batch_commit_seconds_bucket{shard=\"0\",le=\"0.1\"} 3\n"
            "dangol_batch_commit_seconds_bucket{shard=\"0\",le=\"1\"} 4\n"
            "dangol_batch_commit_seconds_bucket{shard=\"0\",le=\"+Inf\"} 6\n"
            "dangol_batch_commit_seconds_sum{shard=\"0\"} 6.078125\n"
            "dangol_batch_commit_seconds_count{shard=\"0\"} 6\n");
}

TEST(FdLimit, FitsTheConnectionsAndTheReserve) {
  std::string error;
  EXPECT_TRUE(fd_limit_fits(1024 - kReservedDescriptors, {1024, 1024}, &error));
  EXPECT_TRUE(fd_limit_fits(0, {kReservedDescriptors, 4096}, &error));
  EXPECT_TRUE(fd_limit_fits(100'000, {1 << 20, 1 << 20}, &error));
  EXPECT_EQ(error, "");

  EXPECT_FALSE(fd_limit_fits(1024, {1024, 4096}, &error));
  EXPECT_EQ(error,
            "1024 HTTP connections (--http-max-connections) and 256 file descriptors kept for RocksDB and librdkafka "
            "need 1280 descriptors, but the limit (RLIMIT_NOFILE) is 1024 (hard limit 4096): give "
            "--http-max-connections 768 or less, or raise the hard limit (ulimit -Hn; LimitNOFILE= in systemd)");
  EXPECT_FALSE(fd_limit_fits(1024 - kReservedDescriptors + 1, {1024, 1024}, &error));
  EXPECT_NE(error.find("need 1025 descriptors, but the limit (RLIMIT_NOFILE) is 1024"), std::string::npos) << error;

  // No room even without HTTP: only raising the limit helps.
  EXPECT_FALSE(fd_limit_fits(0, {200, static_cast<std::uint64_t>(RLIM_INFINITY)}, &error));
  EXPECT_NE(error.find("is 200 (hard limit unlimited): raise the hard limit"), std::string::npos) << error;
}

TEST(FdLimit, RaisesTheSoftLimitToTheHardOne) {
  rlimit before{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &before), 0);
  if (before.rlim_max == RLIM_INFINITY || before.rlim_max < 2 * kReservedDescriptors) {
    GTEST_SKIP() << "needs a finite hard limit of at least " << 2 * kReservedDescriptors;
  }
  rlimit lowered = before;
  lowered.rlim_cur = before.rlim_max / 2;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lowered), 0);
  FdLimit limit;
  std::string error;
  const bool fits = raise_fd_limit(before.rlim_max - kReservedDescriptors, &limit, &error);
  rlimit after{};
  getrlimit(RLIMIT_NOFILE, &after);
  setrlimit(RLIMIT_NOFILE, &before);
  EXPECT_TRUE(fits) << error;
  EXPECT_EQ(after.rlim_cur, before.rlim_max);
  EXPECT_EQ(limit.soft, before.rlim_max);
  EXPECT_EQ(limit.hard, before.rlim_max);
  EXPECT_FALSE(raise_fd_limit(before.rlim_max - kReservedDescriptors + 1, &limit, &error));
}

// --- The server, over loopback ----------------------------------------------

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

struct Answer {
  int status = 0;  // 0: no whole answer in time
  std::string body;
};

// A blocking client on plain sockets: unlike a Beast client it can shrink
// its receive buffer, exist before it connects, and stop reading.
class Client {
 public:
  // receive_buffer: SO_RCVBUF, set before connecting so the TCP window
  // stays small and the server's write cannot complete into the kernel.
  explicit Client(int receive_buffer = 0) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    if (fd_ >= 0 && receive_buffer > 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connect(std::uint16_t port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return fd_ >= 0 && ::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  }

  // Sends `first` bytes, then the rest `piece` bytes at a time, pausing
  // between so that the server reads them one by one.
  bool send_in_pieces(std::string_view bytes, std::size_t first, std::size_t piece) {
    const int on = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    for (std::size_t size = first; !bytes.empty(); size = piece) {
      if (!send(bytes.substr(0, size))) return false;
      bytes.remove_prefix(std::min(size, bytes.size()));
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }

  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // One answer with a Content-Length (the server always sends one).
  Answer read_answer(std::chrono::milliseconds timeout = 3s) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    Answer answer;
    std::size_t header_end = std::string::npos, length = 0;
    while (header_end == std::string::npos || received_.size() < header_end + length) {
      if (!receive(end)) return answer;
      if (header_end != std::string::npos) continue;
      header_end = received_.find("\r\n\r\n");
      if (header_end == std::string::npos) continue;
      header_end += 4;
      std::string header = received_.substr(0, header_end);
      std::transform(header.begin(), header.end(), header.begin(), [](unsigned char c) { return std::tolower(c); });
      const std::size_t field = header.find("\r\ncontent-length:");
      if (field != std::string::npos) length = std::stoul(header.substr(field + 17));
    }
    answer.status = std::stoi(received_.substr(9, 3));
    answer.body = received_.substr(header_end, length);
    received_.erase(0, header_end + length);
    return answer;
  }

  // Whether the server closes the connection (end of stream or reset)
  // within `timeout`; what it still sends is read and dropped.
  bool closed_within(std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (receive(end)) received_.clear();
    return closed_;
  }

  int fd() const { return fd_; }

 private:
  // Appends what arrives before `end`; false on timeout or close.
  bool receive(std::chrono::steady_clock::time_point end) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    pollfd p{fd_, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    std::array<char, 65536> chunk;
    const ssize_t n = ::recv(fd_, chunk.data(), chunk.size(), 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    received_.append(chunk.data(), static_cast<std::size_t>(n));
    return true;
  }

  int fd_;
  std::string received_;
  bool closed_ = false;
};

// A GET whose header fields take exactly `bytes` bytes, the empty line that
// ends them included: what max_header_bytes counts (the request line, here
// of `target`, has a limit of its own, the same).
std::string get_with_header_bytes(std::size_t bytes, std::string_view target = "/") {
  const std::string head = "Host: test\r\nX-Filler: ";
  const std::string tail = "\r\n\r\n";
  return "GET " + std::string(target) + " HTTP/1.1\r\n" + head + std::string(bytes - head.size() - tail.size(), 'f') +
         tail;
}

std::unique_ptr<Server> serve(ServerOptions options, Handler handler) {
  options.port = 0;
  std::unique_ptr<Server> server;
  std::string error;
  if (!Server::start(std::move(options), std::move(handler), &server, &error)) ADD_FAILURE() << error;
  return server;
}

Handler answer_ok(std::atomic<int>* handled) {
  return [handled](Request&, Reply reply) {
    ++*handled;
    reply(json_response(beast_http::status::ok, "{}"));
  };
}

TEST(HttpServer, AcceptsRequestHeadersUpToTheLimit) {
  std::atomic<int> handled{0};
  auto server = serve({}, answer_ok(&handled));
  ASSERT_TRUE(server);
  const std::size_t limit = ServerOptions{}.max_header_bytes;
  ASSERT_EQ(limit, 16u << 10);
  for (std::size_t bytes : {std::size_t{1} << 10, std::size_t{9} << 10, std::size_t{15} << 10, limit}) {
    Client client;
    ASSERT_TRUE(client.connect(server->port()));
    ASSERT_TRUE(client.send(get_with_header_bytes(bytes)));
    const Answer answer = client.read_answer();
    EXPECT_EQ(answer.status, 200) << bytes << " header bytes: " << answer.body;
  }
  EXPECT_EQ(handled.load(), 4);
  EXPECT_EQ(server->stats().bad_requests.load(), 0);
}

TEST(HttpServer, AnswersLargerHeaders431AndCloses) {
  std::atomic<int> handled{0};
  auto server = serve({}, answer_ok(&handled));
  ASSERT_TRUE(server);
  const std::size_t limit = ServerOptions{}.max_header_bytes;
  for (std::size_t bytes : {limit + 1, std::size_t{17} << 10, std::size_t{64} << 10}) {
    Client client;
    ASSERT_TRUE(client.connect(server->port()));
    ASSERT_TRUE(client.send(get_with_header_bytes(bytes)));
    const Answer answer = client.read_answer();
    EXPECT_EQ(answer.status, 431) << bytes << " header bytes: " << answer.body;
    EXPECT_EQ(answer.body, "{\"error\":\"headers over 16384 bytes\"}");
    EXPECT_TRUE(client.closed_within(3s)) << bytes;
  }
  // A request line over the limit too.
  Client client;
  ASSERT_TRUE(client.connect(server->port()));
  ASSERT_TRUE(client.send("GET /" + std::string(17 << 10, 't') + " HTTP/1.1\r\nHost: test\r\n\r\n"));
  EXPECT_EQ(client.read_answer().status, 431);
  EXPECT_TRUE(client.closed_within(3s));
  EXPECT_EQ(handled.load(), 0);
}

// Beast's own count depends on where the reads cut the header: with the
// request line cut, it refused headers well under the limit.
TEST(HttpServer, HeaderLimitIsExactHoweverTheHeaderArrives) {
  std::atomic<int> handled{0};
  auto server = serve({}, answer_ok(&handled));
  ASSERT_TRUE(server);
  const std::size_t limit = ServerOptions{}.max_header_bytes;
  const std::string target = "/v1/campaigns/" + std::string(1000, 'c');
  for (std::size_t first : {std::size_t{10}, std::size_t{2000}}) {
    for (std::size_t bytes : {limit, limit + 1}) {
      Client client;
      ASSERT_TRUE(client.connect(server->port()));
      ASSERT_TRUE(client.send_in_pieces(get_with_header_bytes(bytes, target), first, 1448));
      EXPECT_EQ(client.read_answer().status, bytes == limit ? 200 : 431) << bytes << " bytes, first piece " << first;
    }
  }
  EXPECT_EQ(handled.load(), 2);
}

TEST(HttpServer, BoundsTheAnswersHeldForClientsThatDoNotRead) {
  constexpr std::int64_t kAnswer = 8 << 20, kBound = 20 << 20;  // room for two answers
  constexpr int kClients = 8;
  ServerOptions options;
  options.request_timeout = 300ms;
  options.idle_timeout = 500ms;
  options.max_queued_response_bytes_total = kBound;
  auto server = serve(options, [](Request&, Reply reply) {
    Response response(beast_http::status::ok, 11);
    response.body() = std::string(kAnswer, 'm');
    reply(std::move(response));
  });
  ASSERT_TRUE(server);
  const ServerStats& stats = server->stats();
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<Client>(4096));
    ASSERT_TRUE(clients.back()->connect(server->port()));
    ASSERT_TRUE(clients.back()->send("GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n"));
  }
  // Two answers are held for their (not reading) clients; the others were
  // answered 503 rather than queued.
  auto answered = [&] { return stats.busy_refusals.load() + stats.bytes_queued.load() / kAnswer; };
  ASSERT_TRUE(eventually([&] { return answered() == kClients; }, 2s))
      << stats.busy_refusals.load() << " refused, " << stats.bytes_queued.load() << " bytes queued";
  EXPECT_EQ(stats.bytes_queued.load(), 2 * kAnswer);
  // The clients that do not read are cut off after request_timeout and
  // their answers freed; the idle ones after idle_timeout.
  EXPECT_TRUE(eventually([&] { return stats.bytes_queued.load() == 0 && stats.connections_open.load() == 0; }, 2s))
      << stats.bytes_queued.load() << " bytes queued, " << stats.connections_open.load() << " connections open";
  EXPECT_EQ(stats.write_timeouts.load(), 2);
  EXPECT_LE(stats.bytes_queued_peak.load(), kBound);
  for (auto& client : clients) EXPECT_TRUE(client->closed_within(1s));
  // With room again, a client that reads gets the whole answer.
  Client reader;
  ASSERT_TRUE(reader.connect(server->port()));
  ASSERT_TRUE(reader.send("GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n"));
  const Answer answer = reader.read_answer();
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(answer.body.size(), kAnswer);
  EXPECT_LE(stats.bytes_queued_peak.load(), kBound);
}

TEST(HttpServer, BusyAnswerNamesTheBound) {
  ServerOptions options;
  options.max_queued_response_bytes_total = 1000;
  auto server = serve(options, [](Request&, Reply reply) {
    reply(json_response(beast_http::status::ok, std::string(2000, ' ')));
  });
  ASSERT_TRUE(server);
  Client client;
  ASSERT_TRUE(client.connect(server->port()));
  ASSERT_TRUE(client.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n"));
  const Answer answer = client.read_answer();
  EXPECT_EQ(answer.status, 503);
  EXPECT_EQ(answer.body,
            "{\"error\":\"server busy: an answer of 2000 bytes would exceed the 1000 bytes of answers held for "
            "clients still reading them (0 held now); retry later\"}");
  EXPECT_EQ(server->stats().busy_refusals.load(), 1);
}

// Lowers the soft RLIMIT_NOFILE of this process to its highest open
// descriptor and fills every free one below, so that the next socket or
// accept() fails with EMFILE; restores both when destroyed.
class OutOfDescriptors {
 public:
  OutOfDescriptors() {
    getrlimit(RLIMIT_NOFILE, &saved_);
    int highest = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
      highest = std::max(highest, std::stoi(entry.path().filename().string()));
    }
    rlimit lowered = saved_;
    lowered.rlim_cur = static_cast<rlim_t>(highest) + 1;
    ok_ = setrlimit(RLIMIT_NOFILE, &lowered) == 0;
    for (int fd; ok_ && (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fillers_.push_back(fd);
  }
  ~OutOfDescriptors() {
    for (int fd : fillers_) ::close(fd);
    setrlimit(RLIMIT_NOFILE, &saved_);
  }
  bool ok() const { return ok_; }

 private:
  rlimit saved_{};
  bool ok_ = false;
  std::vector<int> fillers_;
};

std::chrono::microseconds cpu_time() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto us = [](const timeval& t) { return std::chrono::seconds(t.tv_sec) + std::chrono::microseconds(t.tv_usec); };
  return us(usage.ru_utime) + us(usage.ru_stime);
}

TEST(HttpServer, BacksOffAcceptingWhenOutOfDescriptors) {
  std::atomic<int> handled{0};
  ServerOptions options;
  options.threads = 1;
  auto server = serve(options, answer_ok(&handled));
  ASSERT_TRUE(server);
  const ServerStats& stats = server->stats();
  // The clients' sockets exist before the limit drops; connecting needs no
  // new descriptor on their side, while the server's accept() needs one.
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 16; ++i) clients.push_back(std::make_unique<Client>());
  {
    OutOfDescriptors out;
    ASSERT_TRUE(out.ok());
    for (auto& client : clients) ASSERT_TRUE(client->connect(server->port()));
    // The episode goes on while no descriptor frees: the server waits
    // rather than retrying accept() in a loop.
    std::this_thread::sleep_for(50ms);
    const auto wall_start = std::chrono::steady_clock::now();
    const auto cpu_start = cpu_time();
    std::this_thread::sleep_for(500ms);
    const auto cpu = cpu_time() - cpu_start;
    const auto wall =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - wall_start);
    EXPECT_LT(cpu.count(), wall.count() * 3 / 10) << "CPU " << cpu.count() << " us in " << wall.count() << " us";
    EXPECT_EQ(stats.accept_backoffs.load(), 1);  // one episode, however many retries
    EXPECT_EQ(stats.connections_open.load(), 0);
  }
  clients.clear();
  // Descriptors free again: the next retry (at most 1 s away) accepts.
  Client client;
  ASSERT_TRUE(client.connect(server->port()));
  ASSERT_TRUE(client.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n"));
  EXPECT_EQ(client.read_answer(3s).status, 200);
  EXPECT_EQ(handled.load(), 1);
  EXPECT_EQ(stats.accept_backoffs.load(), 1);
}

}  // namespace
}  // namespace dangol::http
