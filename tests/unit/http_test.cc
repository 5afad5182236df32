// The HTTP building blocks without a server: roles and the auth file,
// constant-time token comparison, and the Prometheus text format.

#include <gtest/gtest.h>

#include <array>

#include "services/http/auth.h"
#include "services/http/prometheus.h"

namespace dangol::http {
namespace {

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

}  // namespace
}  // namespace dangol::http
