// campaignctl end to end, as a user runs it: the real binary on real files.
// Covers the pilot golden figures, byte-identical replays, reconciliation of
// a festival run, hostile input lines, and exit codes (CONTRACT §4).

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;

std::string campaignctl() {
  const char* dir = std::getenv("DANGOL_BIN_DIR");
  return std::string(dir ? dir : "build/services") + "/campaignctl/campaignctl";
}

struct Result {
  int exit_code = -1;
  std::string out, err;
};

class CampaignctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("dangol-replay-test-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Runs campaignctl with `args` (shell words), capturing stdout and stderr.
  Result run(const std::string& args) const {
    std::string out = path("stdout"), err = path("stderr");
    std::string cmd = campaignctl() + " " + args + " >" + out + " 2>" + err + " </dev/null";
    Result r;
    int status = std::system(cmd.c_str());
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = read(out);
    r.err = read(err);
    return r;
  }

  // Runs a simulation into a file of the test directory; returns the exit code.
  int simulate(const std::string& args, const std::string& name) const {
    Result r = run(args);
    write(name, r.out);
    return r.exit_code;
  }

  static std::string read(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  void write(const std::string& name, const std::string& content) const {
    std::ofstream(path(name), std::ios::binary) << content;
  }

  static int count_lines(const std::string& s) {
    int n = 0;
    for (char c : s) n += c == '\n';
    return n;
  }

  fs::path dir_;
};

// The pilot simulation replayed through the engine reproduces DESIGN §1's
// figures exactly, and its journal reconciles.
TEST_F(CampaignctlTest, PilotReproducesTheGoldenFigures) {
  ASSERT_EQ(simulate("simulate pilot --seed 1", "pilot.jsonl"), 0);
  Result report = run("report --events " + path("pilot.jsonl") + " --format json");
  ASSERT_EQ(report.exit_code, 0) << report.err;
  EXPECT_NE(report.out.find("\"enrolled\":70,\"channels\":62,\"adoptionBps\":8857,\"friends\":4040,"),
            std::string::npos)
      << report.out;
  EXPECT_NE(report.out.find("\"messages\":361,"), std::string::npos) << report.out;

  ASSERT_EQ(run("replay --events " + path("pilot.jsonl") + " --decisions " + path("d.jsonl")).exit_code, 0);
  Result rec = run("reconcile --decisions " + path("d.jsonl"));
  EXPECT_EQ(rec.exit_code, 0) << rec.out;
}

// Replaying the same file twice gives byte-identical decisions (DESIGN §4).
TEST_F(CampaignctlTest, ReplayIsByteIdentical) {
  ASSERT_EQ(simulate("simulate festival --seed 3 --events 20000", "f.jsonl"), 0);
  ASSERT_EQ(run("replay --events " + path("f.jsonl") + " --decisions " + path("a.jsonl")).exit_code, 0);
  ASSERT_EQ(run("replay --events " + path("f.jsonl") + " --decisions " + path("b.jsonl")).exit_code, 0);
  std::string a = read(path("a.jsonl"));
  EXPECT_EQ(count_lines(a), 20000);
  EXPECT_EQ(a, read(path("b.jsonl")));
}

// A festival run never overspends: the journal reconciles with the full
// invariant check after every event, and reconcile agrees.
TEST_F(CampaignctlTest, FestivalReconcilesUnderParanoidReplay) {
  ASSERT_EQ(simulate("simulate festival --seed 5 --events 8000", "f.jsonl"), 0);
  Result replay = run("replay --paranoid --events " + path("f.jsonl") + " --decisions " + path("d.jsonl"));
  ASSERT_EQ(replay.exit_code, 0) << replay.err;
  Result rec = run("reconcile --format json --decisions " + path("d.jsonl"));
  EXPECT_EQ(rec.exit_code, 0) << rec.out;
  EXPECT_NE(rec.out.find("\"balanced\":true"), std::string::npos);
}

// Hostile and malformed lines never crash replay: each is reported with its
// line number and skipped, keeps its offset, and valid lines around it are
// still decided.
TEST_F(CampaignctlTest, HostileLinesAreReportedAndSkipped) {
  std::uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("DANGOL_SEED")) seed = std::strtoull(s, nullptr, 10);
  SCOPED_TRACE("DANGOL_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);

  const std::string valid =
      R"({"eventId":"ev-OK","occurredAt":"2023-08-01T09:00:00+09:00","merchantEnrolled":{"merchantId":"m-1","marketId":"mk","category":"food"}})";
  const std::vector<std::string> fixed_bad = {
      "{", "}", "[]", "null", "\"just a string\"", "{\"eventId\":", "{\"eventId\":\"x\",}",
      R"({"eventId":1,"occurredAt":"2023-08-01T00:00:00Z"})",
      R"({"eventId":"x","occurredAt":"not a time"})",
      R"({"eventId":"x","occurredAt":"2023-08-01T00:00:00Z","couponRedeemed":{"orderAmount":"12x"}})",
      R"({"eventId":"x","occurredAt":"2023-08-01T00:00:00Z","couponRedeemed":{"orderAmount":99999999999999999999999}})",
      R"({"eventId":"x","occurredAt":"2023-08-01T00:00:00Z","unknownPayload":{}})",
      std::string(100000, '['), std::string("{\"eventId\":\"\xff\xfe\"}"), std::string("\0\0\0", 3)};

  std::string input;
  int expected_decided = 0, expected_skipped = 0;
  for (int i = 0; i < 300; ++i) {
    switch (rng() % 3) {
      case 0: {
        std::string line = valid;
        line.replace(line.find("ev-OK"), 5, "ev-" + std::to_string(i));
        input += line + "\n";
        ++expected_decided;
        break;
      }
      case 1:
        input += fixed_bad[rng() % fixed_bad.size()] + "\n";
        ++expected_skipped;
        break;
      default: {
        // Random byte flips of a valid line: decoded or skipped, never a crash.
        std::string line = valid;
        for (int flips = 1 + rng() % 4; flips > 0; --flips) line[rng() % line.size()] = static_cast<char>(rng());
        std::replace(line.begin(), line.end(), '\n', ' ');
        input += line + "\n";
        break;
      }
    }
  }
  write("hostile.jsonl", input);
  Result r = run("replay --events " + path("hostile.jsonl"));
  ASSERT_EQ(r.exit_code, 0) << r.err.substr(0, 2000);
  int decided = count_lines(r.out), skipped = count_lines(r.err);
  EXPECT_EQ(decided + skipped, 300);
  EXPECT_GE(decided, expected_decided);
  EXPECT_GE(skipped, expected_skipped);
  EXPECT_NE(r.err.find("line "), std::string::npos);
  EXPECT_NE(r.err.find(": skipped: "), std::string::npos);
}

// The offset of a decision is the index of its non-blank line, so a skipped
// line leaves a hole and blank lines do not count.
TEST_F(CampaignctlTest, OffsetsCountNonBlankLines) {
  write("e.jsonl",
        "\n"
        R"({"eventId":"a","occurredAt":"2023-08-01T00:00:00Z","channelOpened":{"merchantId":"m","channelId":"c"}})"
        "\n  \nnot json\n"
        R"({"eventId":"b","occurredAt":"2023-08-01T00:00:00Z","channelOpened":{"merchantId":"m","channelId":"c"}})"
        "\n");
  Result r = run("replay --events " + path("e.jsonl"));
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find(R"("eventId":"a","shard":0,"seq":"1","partition":0,"offset":"0")"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(R"("eventId":"b","shard":0,"seq":"2","partition":0,"offset":"2")"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("line 4: skipped"), std::string::npos) << r.err;
}

// With --state-dir, a replay split over two files continues from the stored
// state: the same decisions as one replay of the whole (offsets aside, which
// count lines per file), and report reads the figures from the store.
TEST_F(CampaignctlTest, StateDirContinuesAcrossRuns) {
  ASSERT_EQ(simulate("simulate pilot", "p.jsonl"), 0);
  std::string all = read(path("p.jsonl"));
  std::size_t cut = 0;
  for (int lines = 0; lines < 2500; ++lines) cut = all.find('\n', cut) + 1;
  write("first.jsonl", all.substr(0, cut));
  write("second.jsonl", all.substr(cut));
  const std::string state = " --state-dir " + path("state");
  Result first = run("replay" + state + " --events " + path("first.jsonl"));
  Result second = run("replay" + state + " --events " + path("second.jsonl"));
  Result whole = run("replay --events " + path("p.jsonl"));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_EQ(second.exit_code, 0) << second.err;
  auto without_offsets = [](std::string s) {
    static const std::regex offset(R"("offset":"[0-9]+")");
    return std::regex_replace(s, offset, "");
  };
  EXPECT_EQ(without_offsets(first.out + second.out), without_offsets(whole.out));
  Result stored = run("report --format json" + state);
  Result replayed = run("report --format json --events " + path("p.jsonl"));
  ASSERT_EQ(stored.exit_code, 0) << stored.err;
  EXPECT_EQ(stored.out, replayed.out);
  EXPECT_EQ(run("report --events x" + state).exit_code, 2);
}

// A tampered journal is caught: reconcile exits 1 and names the problem.
TEST_F(CampaignctlTest, ReconcileExitsOneOnATamperedJournal) {
  ASSERT_EQ(simulate("simulate pilot", "p.jsonl"), 0);
  ASSERT_EQ(run("replay --events " + path("p.jsonl") + " --decisions " + path("d.jsonl")).exit_code, 0);
  std::string journal = read(path("d.jsonl"));
  auto at = journal.find("\"reserved\":\"2000\"");
  ASSERT_NE(at, std::string::npos);
  journal.replace(at, 17, "\"reserved\":\"2001\"");
  write("tampered.jsonl", journal);
  Result rec = run("reconcile --decisions " + path("tampered.jsonl"));
  EXPECT_EQ(rec.exit_code, 1);
  EXPECT_NE(rec.out.find("couponGranted"), std::string::npos) << rec.out.substr(0, 2000);
}

// Usage errors exit 2 with a message on stderr; runtime errors exit 3.
TEST_F(CampaignctlTest, ExitCodes) {
  EXPECT_EQ(run("").exit_code, 2);
  EXPECT_EQ(run("frobnicate").exit_code, 2);
  Result bad_flag = run("replay --no-such-flag");
  EXPECT_EQ(bad_flag.exit_code, 2);
  EXPECT_NE(bad_flag.err.find("campaignctl:"), std::string::npos);
  EXPECT_EQ(run("report --events x --format xml").exit_code, 2);
  EXPECT_EQ(run("simulate moon").exit_code, 2);
  EXPECT_EQ(run("simulate festival --events 0").exit_code, 2);
  EXPECT_EQ(run("report").exit_code, 2);
  Result missing = run("replay --events " + path("does-not-exist.jsonl"));
  EXPECT_EQ(missing.exit_code, 3);
  EXPECT_NE(missing.err.find("does-not-exist.jsonl"), std::string::npos);
  EXPECT_EQ(run("reconcile --decisions " + path("nope.jsonl")).exit_code, 3);
  EXPECT_EQ(run("--help").exit_code, 0);
}

}  // namespace
