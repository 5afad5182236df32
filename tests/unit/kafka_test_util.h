#pragma once
// Helpers for tests that run Dangol's binaries and read Kafka topics back:
// child processes with deadlines, shell commands with a time limit, and a
// plain consumer that reads a whole topic.

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "services/kafka/handles.h"

namespace dangol::test {

namespace fs = std::filesystem;
namespace kafka = dangol::kafka;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct Consumed {
  std::int32_t partition;
  std::int64_t offset;
  std::string key, value;
};

// Reads every record of `topic` from the beginning of each partition with a
// plain librdkafka consumer (assign, no group), up to each partition's high
// watermark at the time of the call, or until `timeout` passes. (End of
// partition events are not used: librdkafka's mock cluster reports them
// before the end of a large topic.)
inline std::vector<Consumed> consume_all(const std::string& bootstrap, const std::string& topic, int partitions,
                                         milliseconds timeout = milliseconds(30'000)) {
  std::vector<Consumed> out;
  kafka::ConfPtr conf;
  EXPECT_TRUE(kafka::make_conf({{"bootstrap.servers", bootstrap},
                                {"group.id", "dangol-kafka-test"},
                                {"enable.auto.commit", "false"},
                                {"log_level", "3"}},
                               &conf)
                  .ok());
  kafka::HandlePtr rk;
  kafka::Status s = kafka::new_handle(RD_KAFKA_CONSUMER, std::move(conf), &rk);
  EXPECT_TRUE(s.ok()) << s.message();
  if (!rk) return out;
  rd_kafka_poll_set_consumer(rk.get());
  std::vector<std::int64_t> high(partitions, 0);
  std::set<std::int32_t> at_end;
  kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(partitions));
  for (int p = 0; p < partitions; ++p) {
    std::int64_t low = 0;
    EXPECT_EQ(rd_kafka_query_watermark_offsets(rk.get(), topic.c_str(), p, &low, &high[p], 10'000),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    EXPECT_EQ(low, 0) << topic << " [" << p << "] starts at " << low
                      << ": the development broker dropped old records (it keeps about 5 MB per partition)";
    if (high[p] <= low) at_end.insert(p);
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  EXPECT_EQ(rd_kafka_assign(rk.get(), list.get()), RD_KAFKA_RESP_ERR_NO_ERROR);
  const auto deadline = Clock::now() + timeout;
  while (static_cast<int>(at_end.size()) < partitions && Clock::now() < deadline) {
    kafka::MessagePtr m(rd_kafka_consumer_poll(rk.get(), 100));
    if (!m || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
    if (m->err) {
      ADD_FAILURE() << "consume: " << rd_kafka_message_errstr(m.get());
      continue;
    }
    if (at_end.count(m->partition)) continue;
    out.push_back({m->partition, m->offset,
                   m->key ? std::string(static_cast<const char*>(m->key), m->key_len) : std::string(),
                   m->payload ? std::string(static_cast<const char*>(m->payload), m->len) : std::string()});
    if (m->offset >= high[m->partition] - 1) at_end.insert(m->partition);
  }
  EXPECT_EQ(static_cast<int>(at_end.size()), partitions) << "not every partition was read to its end in time";
  rd_kafka_consumer_close(rk.get());
  return out;
}

// Reads `topic` from the beginning of every partition on a background thread
// for as long as it lives, so that a test sees every record even where the
// development broker later drops old ones (it keeps about 5 MB per
// partition).
class TopicCollector {
 public:
  TopicCollector(const std::string& bootstrap, const std::string& topic, int partitions) {
    kafka::ConfPtr conf;
    EXPECT_TRUE(kafka::make_conf({{"bootstrap.servers", bootstrap},
                                  {"group.id", "dangol-test-collector"},
                                  {"enable.auto.commit", "false"},
                                  // The development broker can drop a request in flight when a
                                  // test sets it down; a short timeout retries it in seconds
                                  // rather than the default minute.
                                  {"socket.timeout.ms", "5000"},
                                  {"log_level", "3"}},
                                 &conf)
                    .ok());
    EXPECT_TRUE(kafka::new_handle(RD_KAFKA_CONSUMER, std::move(conf), &rk_).ok());
    if (!rk_) return;
    rd_kafka_poll_set_consumer(rk_.get());
    kafka::PartitionListPtr list(rd_kafka_topic_partition_list_new(partitions));
    for (int p = 0; p < partitions; ++p) {
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    EXPECT_EQ(rd_kafka_assign(rk_.get(), list.get()), RD_KAFKA_RESP_ERR_NO_ERROR);
    thread_ = std::thread([this] { run(); });
  }
  ~TopicCollector() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (rk_) rd_kafka_consumer_close(rk_.get());
  }
  std::int64_t size() const { return count_.load(); }
  // Waits until at least `n` records arrived; false after `limit`.
  bool wait_for(std::int64_t n, milliseconds limit) const {
    const auto deadline = Clock::now() + limit;
    while (count_.load() < n && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(50));
    return count_.load() >= n;
  }
  std::vector<Consumed> records() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return records_;
  }

 private:
  void run() {
    while (!stop_) {
      kafka::MessagePtr m(rd_kafka_consumer_poll(rk_.get(), 50));
      if (!m || m->err) continue;
      std::lock_guard<std::mutex> lock(mutex_);
      records_.push_back({m->partition, m->offset,
                          m->key ? std::string(static_cast<const char*>(m->key), m->key_len) : std::string(),
                          m->payload ? std::string(static_cast<const char*>(m->payload), m->len) : std::string()});
      count_ = static_cast<std::int64_t>(records_.size());
    }
  }

  kafka::HandlePtr rk_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<std::int64_t> count_{0};
  mutable std::mutex mutex_;
  std::vector<Consumed> records_;
};

inline std::string bin_dir() {
  const char* dir = std::getenv("DANGOL_BIN_DIR");
  return dir ? dir : "build/services";
}
inline std::string campaignctl() { return bin_dir() + "/campaignctl/campaignctl"; }

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct RunResult {
  int exit_code = -1;
  std::string out, err;
  Clock::duration elapsed{};
};

// Runs a shell command with a hard time limit (coreutils `timeout`).
inline RunResult run(const std::string& command, const fs::path& dir, int limit_s = 30) {
  const fs::path out = dir / "run.out", err = dir / "run.err";
  std::string cmd = "timeout -s KILL " + std::to_string(limit_s) + " " + command + " >" + out.string() + " 2>" +
                    err.string();
  RunResult r;
  const auto start = Clock::now();
  int status = std::system(cmd.c_str());
  r.elapsed = Clock::now() - start;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

// A child process that is killed if the test ends before reaping it.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const fs::path& out, const fs::path& err) {
    pid_ = ::fork();
    if (pid_ == 0) {
      // Its own process group: a test stops it (SIGSTOP) for seconds, and
      // if the group it shared became orphaned meanwhile (the shell that
      // started the test run exited), the kernel would send every stopped
      // member SIGHUP, which ends it (exit status 129) mid-test.
      ::setpgid(0, 0);
      std::freopen(out.c_str(), "w", stdout);
      std::freopen(err.c_str(), "w", stderr);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  // Exit code once it exits by itself, or -1 if it did not within `limit`.
  int wait_for_exit(milliseconds limit) {
    int code = -1;
    for (auto until = Clock::now() + limit; code < 0 && pid_ > 0 && Clock::now() < until;) {
      code = stop(0, milliseconds(200));  // signal 0 only checks that it runs
    }
    return code;
  }
  // Exit code after `signal`, or -1 if it did not exit within `limit`.
  int stop(int signal, milliseconds limit) {
    if (pid_ <= 0) return -1;  // reaped already; kill(-1, …) would signal every process
    ::kill(pid_, signal);
    const auto deadline = Clock::now() + limit;
    int status = 0;
    while (Clock::now() < deadline) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
};


}  // namespace dangol::test
