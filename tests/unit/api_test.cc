// The HTTP API of CONTRACT §5, tested as a client would: a real campaignd
// (embedded development broker, --demo feeding the pilot and a small
// festival) spoken to over TCP with a Beast client. Every role against every
// endpoint, wait mode, bad input, limits and slow clients.

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <regex>

#include "tests/unit/kafka_test_util.h"

namespace dangol::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using std::chrono::seconds;

inline std::string campaignd() { return bin_dir() + "/campaignd/campaignd"; }

constexpr const char* kAdmin = "admin-token-0123456789abcdef";
constexpr const char* kFinance = "finance-token-0123456789abcdef";
constexpr const char* kIngest = "ingest-token-0123456789abcdef";
constexpr const char* kMerchant1 = "merchant-m001-token-0123456789";

struct HttpReply {
  int status = 0;
  std::string body;
  std::string allow, content_type;
};

HttpReply request(std::uint16_t port, bhttp::verb verb, const std::string& target, const std::string& token = "",
                  const std::string& body = "") {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  bhttp::request<bhttp::string_body> req{verb, target, 11};
  req.set(bhttp::field::host, "localhost");
  if (!token.empty()) req.set(bhttp::field::authorization, "Bearer " + token);
  req.body() = body;
  req.prepare_payload();
  // A server may answer before it has read the whole body (413) and stop
  // reading: the answer is what counts, so read it even if writing failed.
  beast::error_code write_error;
  bhttp::write(socket, req, write_error);
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64 << 20);
  beast::error_code ec;
  bhttp::read(socket, buffer, parser, ec);
  HttpReply r;
  if (ec) return r;
  auto& res = parser.get();
  r.status = static_cast<int>(res.result_int());
  r.body = res.body();
  if (auto it = res.find(bhttp::field::allow); it != res.end()) r.allow = std::string(it->value());
  if (auto it = res.find(bhttp::field::content_type); it != res.end()) r.content_type = std::string(it->value());
  return r;
}

HttpReply get(std::uint16_t port, const std::string& target, const std::string& token = kAdmin) {
  return request(port, bhttp::verb::get, target, token);
}
HttpReply post(std::uint16_t port, const std::string& target, const std::string& body,
               const std::string& token = kAdmin) {
  return request(port, bhttp::verb::post, target, token, body);
}

std::string channel_added(const std::string& event_id, const std::string& merchant, const std::string& customer) {
  return R"({"eventId":")" + event_id + R"(","occurredAt":"2023-12-01T09:00:00+09:00","channelAdded":{"merchantId":")" +
         merchant + R"(","customerId":")" + customer + R"("}})";
}

// Waits for a log line matching `pattern` in `file`; returns its first group.
std::string wait_for_log(const fs::path& file, const std::regex& pattern, milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    std::smatch m;
    const std::string text = read_file(file);
    if (std::regex_search(text, m, pattern)) return m[1];
    std::this_thread::sleep_for(milliseconds(50));
  }
  return "";
}

std::int64_t json_int(const std::string& body, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(body, m, std::regex("\"" + key + "\":\"?(-?[0-9]+)"))) return -1;
  return std::stoll(m[1]);
}

// One campaignd for the whole suite: starting it and feeding the demo takes
// a few seconds.
class ApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("api_test." + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    fs::create_directories(*dir_);
    std::ofstream(*dir_ / "auth.yaml") << "tokens:\n"
                                       << "  - token: \"" << kAdmin << "\"\n    role: admin\n"
                                       << "  - token: \"" << kFinance << "\"\n    role: finance\n"
                                       << "  - token: \"" << kIngest << "\"\n    role: ingest\n"
                                       << "  - token: \"" << kMerchant1 << "\"\n    role: \"merchant:m-001\"\n";
    child_ = new Child({campaignd(), "--brokers", "embedded", "--state-dir", (*dir_ / "state").string(), "--http",
                        "127.0.0.1:0", "--auth-file", (*dir_ / "auth.yaml").string(), "--demo", "--demo-events",
                        "3000", "--http-request-timeout-ms", "1000", "--http-max-connections", "16"},
                       *dir_ / "campaignd.out", *dir_ / "campaignd.err");
    const std::string port = wait_for_log(*dir_ / "campaignd.out", std::regex("HTTP API on http://127.0.0.1:([0-9]+)"),
                                          seconds(30));
    ASSERT_FALSE(port.empty()) << read_file(*dir_ / "campaignd.out") << read_file(*dir_ / "campaignd.err");
    port_ = static_cast<std::uint16_t>(std::stoi(port));
    // Ready, and the demo decided: the seq stops moving past pilot + festival.
    const auto deadline = Clock::now() + seconds(60);
    std::int64_t last = -1;
    int stable = 0;
    while (Clock::now() < deadline && stable < 10) {
      HttpReply r = get(port_, "/readyz", "");
      std::int64_t seq = r.status == 200 ? json_int(r.body, "nextSeq") : -1;
      stable = seq > 8000 && seq == last ? stable + 1 : 0;
      last = seq;
      std::this_thread::sleep_for(milliseconds(100));
    }
    ASSERT_EQ(stable, 10) << "the demo was not decided in time; last seq " << last;
  }
  static void TearDownTestSuite() {
    if (child_) {
      EXPECT_EQ(child_->stop(SIGTERM, seconds(20)), 0);
    }
    delete child_;
    child_ = nullptr;
    fs::remove_all(*dir_);
    delete dir_;
  }

  // A welcome coupon for a new customer of `merchant`, granted through the
  // API in wait mode; returns its id.
  static std::string grant_welcome(const std::string& merchant, const std::string& customer, const std::string& token) {
    const std::string event_id = "api-" + merchant + "-" + customer;
    HttpReply r = post(port_, "/v1/events?wait=1", channel_added(event_id, merchant, customer), token);
    EXPECT_EQ(r.status, 200) << r.body;
    return event_id + "/welcome-mangwon-2023";
  }

  static fs::path* dir_;
  static Child* child_;
  static std::uint16_t port_;
};

fs::path* ApiTest::dir_ = nullptr;
Child* ApiTest::child_ = nullptr;
std::uint16_t ApiTest::port_ = 0;

TEST_F(ApiTest, ProbesAnswerWithoutToken) {
  // What Kubernetes and Prometheus call carries no token.
  EXPECT_EQ(get(port_, "/healthz", "").status, 200);
  EXPECT_EQ(get(port_, "/readyz", "").status, 200);
  HttpReply m = get(port_, "/metrics", "");
  EXPECT_EQ(m.status, 200);
  EXPECT_NE(m.content_type.find("text/plain; version=0.0.4"), std::string::npos);
}

TEST_F(ApiTest, MetricsParseAsPrometheusTextAndCarryTheLedger) {
  // The official Python client's parser accepts the whole page, and the
  // families the issue names are there.
  HttpReply m = get(port_, "/metrics", "");
  ASSERT_EQ(m.status, 200);
  std::ofstream(*dir_ / "metrics.txt") << m.body;
  RunResult parsed = run("/usr/bin/python3 -c \"import sys; from prometheus_client.parser import text_string_to_metric_families "
                         "as p; print(len(list(p(open(sys.argv[1]).read()))))\" " +
                             (*dir_ / "metrics.txt").string(),
                         *dir_);
  EXPECT_EQ(parsed.exit_code, 0) << parsed.err;
  EXPECT_GT(std::atoi(parsed.out.c_str()), 15);
  for (const char* family :
       {"dangol_events_total{outcome=\"APPLIED\",reason=\"\"}", "dangol_decisions_published_total",
        "dangol_batch_records_bucket", "dangol_batch_commit_seconds_bucket", "dangol_consumer_lag_records{partition=",
        "dangol_dead_letters_total", "dangol_funder_budget{campaign=\"welcome-mangwon-2023\",funder=\"platform\"}",
        "dangol_funder_available{", "dangol_funder_reserved{", "dangol_funder_spent{"}) {
    EXPECT_NE(m.body.find(family), std::string::npos) << family;
  }
  // Rejections are counted by their reason code (DESIGN §3), not as one lot:
  // the festival of the demo is refused for several.
  const std::regex rejected(R"re(dangol_events_total\{outcome="REJECTED",reason="[A-Z_]+"\} [1-9])re");
  auto found = std::sregex_iterator(m.body.begin(), m.body.end(), rejected);
  EXPECT_GE(std::distance(found, std::sregex_iterator()), 2) << m.body.substr(0, 4000);
}

TEST_F(ApiTest, CampaignsAreTheReportObjectsAndReconcile) {
  HttpReply list = get(port_, "/v1/campaigns");
  ASSERT_EQ(list.status, 200);
  EXPECT_NE(list.body.find("\"campaignId\":\"welcome-mangwon-2023\""), std::string::npos);
  EXPECT_NE(list.body.find("\"campaignId\":\"buy-local-2023-09\""), std::string::npos);
  HttpReply one = get(port_, "/v1/campaigns/welcome-mangwon-2023");
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(one.body.rfind("{\"campaignId\":\"welcome-mangwon-2023\"", 0), 0u) << one.body;
  EXPECT_EQ(get(port_, "/v1/campaigns/no-such-campaign").status, 404);
  HttpReply rec = get(port_, "/v1/reconciliation");
  ASSERT_EQ(rec.status, 200);
  EXPECT_NE(rec.body.find("\"balanced\":true"), std::string::npos) << rec.body;
  EXPECT_NE(rec.body.find("\"violations\":[]"), std::string::npos);
  EXPECT_NE(rec.body.find("\"funderId\":\"platform\""), std::string::npos);
}

TEST_F(ApiTest, MarketsShowThePilotFigures) {
  HttpReply m = get(port_, "/v1/markets/mkt-mangwon");
  ASSERT_EQ(m.status, 200) << m.body;
  EXPECT_EQ(json_int(m.body, "enrolled"), 70);
  EXPECT_EQ(json_int(m.body, "channels"), 62);
  EXPECT_EQ(json_int(m.body, "adoptionBps"), 8857);
  EXPECT_EQ(get(port_, "/v1/markets").status, 200);
  EXPECT_EQ(get(port_, "/v1/markets/nowhere").status, 404);
  HttpReply merchant = get(port_, "/v1/merchants/m-001");
  ASSERT_EQ(merchant.status, 200);
  EXPECT_NE(merchant.body.find("\"marketId\":\"mkt-mangwon\""), std::string::npos);
  EXPECT_EQ(get(port_, "/v1/merchants/m-nobody").status, 404);
}

TEST_F(ApiTest, MerchantPostsItsOwnEventAndSeesTheGrantedCoupon) {
  // The issue's "done when": wait mode answers with the decision, which
  // carries the coupon; the coupon is then readable by its merchant.
  HttpReply r = post(port_, "/v1/events?wait=1", channel_added("api-done-1", "m-001", "c-done-1"), kMerchant1);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"outcome\":\"APPLIED\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"couponGranted\":{\"couponId\":\"api-done-1/welcome-mangwon-2023\""), std::string::npos)
      << r.body;
  HttpReply coupon = get(port_, "/v1/coupons/api-done-1/welcome-mangwon-2023", kMerchant1);
  ASSERT_EQ(coupon.status, 200) << coupon.body;
  for (const char* field : {"\"couponId\":\"api-done-1/welcome-mangwon-2023\"", "\"campaignId\":\"welcome-mangwon-2023\"",
                            "\"merchantId\":\"m-001\"", "\"customerId\":\"c-done-1\"", "\"status\":\"ISSUED\"",
                            "\"reserved\":", "\"discount\":0", "\"issuedAt\":\"2023-12-01T00:00:00Z\"",
                            "\"expiresAt\":", "\"split\":[{\"funderId\":\"platform\""}) {
    EXPECT_NE(coupon.body.find(field), std::string::npos) << field << " in " << coupon.body;
  }
  // Posting again: same event id, same content: DUPLICATE, not a second coupon.
  HttpReply again = post(port_, "/v1/events?wait=1", channel_added("api-done-1", "m-001", "c-done-1"), kMerchant1);
  ASSERT_EQ(again.status, 200);
  EXPECT_NE(again.body.find("\"outcome\":\"DUPLICATE\""), std::string::npos) << again.body;
}

TEST_F(ApiTest, MerchantCannotActForAnotherMerchant) {
  EXPECT_EQ(post(port_, "/v1/events", channel_added("api-x-1", "m-002", "c-x"), kMerchant1).status, 403);
  const std::string budget =
      R"({"eventId":"api-x-2","occurredAt":"2023-12-01T00:00:00Z","budgetAdjusted":{"campaignId":"welcome-mangwon-2023","funderId":"platform","delta":"1"}})";
  EXPECT_EQ(post(port_, "/v1/events", budget, kMerchant1).status, 403);
  const std::string enrol =
      R"({"eventId":"api-x-3","occurredAt":"2023-12-01T00:00:00Z","merchantEnrolled":{"merchantId":"m-001","marketId":"mkt-rich","category":"x"}})";
  EXPECT_EQ(post(port_, "/v1/events", enrol, kMerchant1).status, 403);
  // One foreign line refuses the whole body: nothing is produced.
  EXPECT_EQ(post(port_, "/v1/events",
                 channel_added("api-x-4", "m-001", "c-x") + "\n" + channel_added("api-x-5", "m-002", "c-x"),
                 kMerchant1)
                .status,
            403);
  const std::string other = grant_welcome("m-002", "c-other-1", kAdmin);
  EXPECT_EQ(get(port_, "/v1/coupons/" + other, kMerchant1).status, 403);
  EXPECT_EQ(get(port_, "/v1/coupons/" + other, kFinance).status, 200);
  EXPECT_EQ(get(port_, "/v1/merchants/m-002", kMerchant1).status, 403);
}

TEST_F(ApiTest, EveryRoleAgainstEveryEndpoint) {
  // Expected status per role: none, unknown token, admin, finance, ingest,
  // merchant:m-001. POSTs of events use fresh event ids.
  const std::string own_coupon = grant_welcome("m-001", "c-matrix-own", kAdmin);
  const std::string other_coupon = grant_welcome("m-002", "c-matrix-other", kAdmin);
  const std::vector<std::string> tokens = {"", "not-a-known-token-at-all", kAdmin, kFinance, kIngest, kMerchant1};
  struct Case {
    bhttp::verb verb;
    std::string target;
    std::vector<int> expected;
  };
  const std::vector<Case> cases = {
      {bhttp::verb::get, "/v1/campaigns", {401, 401, 200, 200, 200, 403}},
      {bhttp::verb::get, "/v1/campaigns/welcome-mangwon-2023", {401, 401, 200, 200, 200, 403}},
      {bhttp::verb::get, "/v1/markets", {401, 401, 200, 200, 200, 403}},
      {bhttp::verb::get, "/v1/markets/mkt-mangwon", {401, 401, 200, 200, 200, 403}},
      {bhttp::verb::get, "/v1/reconciliation", {401, 401, 200, 200, 200, 403}},
      {bhttp::verb::get, "/v1/merchants/m-001", {401, 401, 200, 200, 200, 200}},
      {bhttp::verb::get, "/v1/merchants/m-002", {401, 401, 200, 200, 200, 403}},
      {bhttp::verb::get, "/v1/coupons/" + own_coupon, {401, 401, 200, 200, 200, 200}},
      {bhttp::verb::get, "/v1/coupons/" + other_coupon, {401, 401, 200, 200, 200, 403}},
      {bhttp::verb::post, "/v1/events", {401, 401, 202, 403, 202, 202}},
      {bhttp::verb::post, "/v1/admin/checkpoint", {401, 401, 200, 403, 403, 403}},
      {bhttp::verb::get, "/healthz", {200, 200, 200, 200, 200, 200}},
      {bhttp::verb::get, "/readyz", {200, 200, 200, 200, 200, 200}},
      {bhttp::verb::get, "/metrics", {200, 200, 200, 200, 200, 200}},
  };
  int n = 0;
  for (const Case& c : cases) {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string body;
      if (c.target == "/v1/events") body = channel_added("api-matrix-" + std::to_string(++n), "m-001", "c-matrix");
      if (c.target == "/v1/admin/checkpoint") {
        body = "{\"dir\":\"" + (*dir_ / ("checkpoint-" + std::to_string(++n))).string() + "\"}";
      }
      HttpReply r = request(port_, c.verb, c.target, tokens[i], body);
      EXPECT_EQ(r.status, c.expected[i]) << c.target << " with token #" << i << ": " << r.body;
      if (r.status == 401 || r.status == 403) {
        EXPECT_NE(r.body.find("\"error\":"), std::string::npos);
      }
    }
  }
}

TEST_F(ApiTest, BadRequestsGetAReasonAndLoseNothing) {
  HttpReply bad_json = post(port_, "/v1/events", "{\"eventId\":");
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_NE(bad_json.body.find("\"line\":1"), std::string::npos) << bad_json.body;
  HttpReply second_line = post(port_, "/v1/events", channel_added("api-bad-1", "m-001", "c-b") + "\n{oops}\n");
  EXPECT_EQ(second_line.status, 400);
  EXPECT_NE(second_line.body.find("\"line\":2"), std::string::npos) << second_line.body;
  HttpReply wrong_type = post(port_, "/v1/events",
                              R"({"eventId":"api-bad-2","occurredAt":"2023-12-01T00:00:00Z","channelAdded":{"merchantId":7}})");
  EXPECT_EQ(wrong_type.status, 400) << wrong_type.body;
  EXPECT_EQ(post(port_, "/v1/events", R"({"eventId":"api-bad-3","occurredAt":"2023-12-01T00:00:00Z"})").status, 400);
  EXPECT_EQ(post(port_, "/v1/events", "\n\n").status, 400);
  EXPECT_EQ(post(port_, "/v1/events?wait=1&timeoutMs=abc", channel_added("api-bad-4", "m-001", "c-b")).status, 400);
  // The line that was fine in the refused body was not produced either.
  EXPECT_EQ(get(port_, "/v1/coupons/api-bad-1/welcome-mangwon-2023").status, 404);

  HttpReply big = post(port_, "/v1/events", std::string((1 << 20) + 10, ' '));
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(get(port_, "/v2/campaigns").status, 404);
  EXPECT_EQ(get(port_, "/v1/nothing").status, 404);
  HttpReply wrong_method = request(port_, bhttp::verb::delete_, "/v1/campaigns", kAdmin);
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_EQ(wrong_method.allow, "GET");
  EXPECT_EQ(request(port_, bhttp::verb::get, "/v1/events", kAdmin).status, 405);
  EXPECT_EQ(get(port_, "/v1/campaigns/%zz").status, 400);
  HttpReply checkpoint = post(port_, "/v1/admin/checkpoint", "{\"dir\":\"relative/path\"}");
  EXPECT_EQ(checkpoint.status, 400);
  EXPECT_EQ(post(port_, "/v1/admin/checkpoint", "not json").status, 400);
  HttpReply inside = post(port_, "/v1/admin/checkpoint", "{\"dir\":\"" + (*dir_ / "state" / "cp").string() + "\"}");
  EXPECT_EQ(inside.status, 400);
  EXPECT_NE(inside.body.find("outside the state dir"), std::string::npos) << inside.body;
}

TEST_F(ApiTest, AnOversizedBodyIsDrainedSoTheClientHearsTheAnswer) {
  // The server answers 413 after the headers, then reads and drops the rest
  // (a lingering close): the client's write of 4 MiB succeeds instead of
  // failing with a reset, and the answer arrives.
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
  bhttp::request<bhttp::string_body> req{bhttp::verb::post, "/v1/events", 11};
  req.set(bhttp::field::host, "localhost");
  req.set(bhttp::field::authorization, std::string("Bearer ") + kAdmin);
  req.body() = std::string(4 << 20, ' ');
  req.prepare_payload();
  beast::error_code ec;
  bhttp::write(socket, req, ec);
  EXPECT_FALSE(ec) << ec.message();
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(socket, buffer, res, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.result_int(), 413u);
  EXPECT_NE(res.body().find("body over"), std::string::npos) << res.body();
}

TEST_F(ApiTest, CheckpointIsWrittenOnceToANewDirectory) {
  const fs::path target = *dir_ / "backups" / "nested" / "backup-1";  // parents are created
  HttpReply r = post(port_, "/v1/admin/checkpoint", "{\"dir\":\"" + target.string() + "\"}");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(fs::exists(target / "CURRENT"));
  EXPECT_EQ(post(port_, "/v1/admin/checkpoint", "{\"dir\":\"" + target.string() + "\"}").status, 409);
  // The checkpoint is a state dir replay can read.
  RunResult report = run(campaignctl() + " report --state-dir " + target.string() + " --format json", *dir_);
  EXPECT_EQ(report.exit_code, 0) << report.err;
  EXPECT_NE(report.out.find("welcome-mangwon-2023"), std::string::npos);
}

TEST_F(ApiTest, WaitModeTimesOutWithWhatIsKnown) {
  // 1 ms is over before the event's delivery report (the producer lingers
  // 1 ms), so the request is answered there, before campaignd has consumed,
  // decided, committed and published the event. (It used to wait for the
  // decision reader's next look, up to 20 ms later, by which time the
  // decision had sometimes arrived: a 200 in 3 of 12 runs.)
  HttpReply r = post(port_, "/v1/events?wait=1&timeoutMs=1", channel_added("api-slow-1", "m-003", "c-slow"));
  ASSERT_EQ(r.status, 504) << r.body;
  EXPECT_NE(r.body.find("\"pending\":[\"api-slow-1\"]"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"accepted\":1"), std::string::npos) << r.body;
}

TEST_F(ApiTest, NdjsonBodyIsAnsweredInEventOrder) {
  std::string body;
  for (int i = 0; i < 5; ++i) body += channel_added("api-nd-" + std::to_string(i), "m-00" + std::to_string(i + 1), "c-nd") + "\n";
  HttpReply r = post(port_, "/v1/events?wait=1", body, kIngest);
  ASSERT_EQ(r.status, 200) << r.body;
  std::size_t last = 0;
  for (int i = 0; i < 5; ++i) {
    std::size_t at = r.body.find("\"eventId\":\"api-nd-" + std::to_string(i) + "\"");
    ASSERT_NE(at, std::string::npos) << i;
    EXPECT_GT(at, last);
    last = at;
  }
  HttpReply accepted = post(port_, "/v1/events", body, kIngest);  // again, without wait
  EXPECT_EQ(accepted.status, 202);
  EXPECT_EQ(accepted.body, "{\"accepted\":5}");
}

TEST_F(ApiTest, KeepAliveServesManyRequestsOnOneConnection) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
  beast::flat_buffer buffer;
  for (int i = 0; i < 20; ++i) {
    bhttp::request<bhttp::string_body> req{bhttp::verb::get, "/v1/campaigns/welcome-mangwon-2023", 11};
    req.set(bhttp::field::host, "localhost");
    req.set(bhttp::field::authorization, std::string("Bearer ") + kFinance);
    bhttp::write(socket, req);
    bhttp::response<bhttp::string_body> res;
    bhttp::read(socket, buffer, res);
    ASSERT_EQ(res.result_int(), 200u);
  }
}

// HEAD gets GET's status and headers without a body, so the next response
// on the connection is read intact.
TEST_F(ApiTest, HeadAnswersLikeGetWithoutABody) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
  beast::flat_buffer buffer;
  for (bhttp::verb verb : {bhttp::verb::head, bhttp::verb::get}) {
    bhttp::request<bhttp::string_body> req{verb, "/v1/campaigns/welcome-mangwon-2023", 11};
    req.set(bhttp::field::host, "localhost");
    req.set(bhttp::field::authorization, std::string("Bearer ") + kFinance);
    bhttp::write(socket, req);
    bhttp::response_parser<bhttp::string_body> parser;
    parser.skip(verb == bhttp::verb::head);  // a HEAD response has no body to read
    bhttp::read(socket, buffer, parser);
    const auto& res = parser.get();
    ASSERT_EQ(res.result_int(), 200u) << bhttp::to_string(verb);
    if (verb == bhttp::verb::head) {
      ASSERT_GT(std::stoul(std::string(res[bhttp::field::content_length])), 0u);
    } else {
      EXPECT_NE(res.body().find("welcome-mangwon-2023"), std::string::npos);
    }
  }
  // Nothing else arrived: the HEAD response carried no body.
  EXPECT_EQ(buffer.size(), 0u);
}

TEST_F(ApiTest, SlowClientIsCutOffWith408) {
  // The request timeout is 1 s here: half a request, then silence.
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
  asio::write(socket, asio::buffer(std::string("GET /v1/campaigns HTTP/1.1\r\nHost: x\r\n")));
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  beast::error_code ec;
  const auto started = Clock::now();
  bhttp::read(socket, buffer, res, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.result_int(), 408u);
  EXPECT_LT(Clock::now() - started, seconds(5));
}

TEST_F(ApiTest, ConnectionsBeyondTheLimitAreRefused) {
  // --http-max-connections 16: hold 16 open, the 17th is answered 503.
  asio::io_context io;
  std::vector<std::unique_ptr<tcp::socket>> held;
  for (int i = 0; i < 16; ++i) {
    held.push_back(std::make_unique<tcp::socket>(io));
    held.back()->connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
  }
  std::this_thread::sleep_for(milliseconds(200));
  HttpReply refused = get(port_, "/healthz", "");
  EXPECT_EQ(refused.status, 503);
  held.clear();
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(get(port_, "/healthz", "").status, 200);
}

// Startup refusals: usage errors exit 2 with the reason.
TEST(ApiStartup, RefusesNonLoopbackWithoutAuthFile) {
  const fs::path dir = fs::temp_directory_path() / ("api_startup." + std::to_string(::getpid()));
  fs::create_directories(dir);
  RunResult r = run(campaignd() + " --brokers embedded --state-dir " + (dir / "s").string() + " --http 0.0.0.0:0", dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("not a loopback address"), std::string::npos) << r.err;
  RunResult bad_http = run(campaignd() + " --brokers embedded --state-dir " + (dir / "s").string() + " --http nowhere", dir);
  EXPECT_EQ(bad_http.exit_code, 2);
  EXPECT_NE(bad_http.err.find("HOST:PORT"), std::string::npos) << bad_http.err;
  std::ofstream(dir / "bad.yaml") << "tokens:\n  - token: \"short\"\n    role: admin\n";
  RunResult bad_auth = run(campaignd() + " --brokers embedded --state-dir " + (dir / "s").string() +
                               " --http 0.0.0.0:0 --auth-file " + (dir / "bad.yaml").string(),
                           dir);
  EXPECT_EQ(bad_auth.exit_code, 2);
  EXPECT_NE(bad_auth.err.find("tokens[0]: token must be"), std::string::npos) << bad_auth.err;
  fs::remove_all(dir);
}

TEST(ApiStartup, BrokerDownAnswers503AndNotReady) {
  // Nothing listens on port 1: campaignd keeps retrying, the API says so.
  const fs::path dir = fs::temp_directory_path() / ("api_down." + std::to_string(::getpid()));
  fs::create_directories(dir);
  Child child({campaignd(), "--brokers", "127.0.0.1:1", "--state-dir", (dir / "s").string(), "--http", "127.0.0.1:0"},
              dir / "out", dir / "err");
  const std::string port = wait_for_log(dir / "out", std::regex("HTTP API on http://127.0.0.1:([0-9]+)"), seconds(20));
  ASSERT_FALSE(port.empty()) << read_file(dir / "out") << read_file(dir / "err");
  const auto p = static_cast<std::uint16_t>(std::stoi(port));
  EXPECT_EQ(get(p, "/healthz", "").status, 200);
  EXPECT_EQ(get(p, "/readyz", "").status, 503);
  HttpReply r = post(p, "/v1/events", channel_added("down-1", "m-001", "c-1"), "");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(r.body.find("broker unavailable"), std::string::npos) << r.body;
  EXPECT_EQ(child.stop(SIGTERM, seconds(20)), 0) << read_file(dir / "out");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dangol::test
