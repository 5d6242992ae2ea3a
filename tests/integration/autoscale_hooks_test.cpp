// The autoscaler's two outputs on their own: WebhookSender (retries, backoff,
// supersession, timeouts) against a TestBackend, and CommandRunner (one run at a
// time, the latest values queued).
#include "proxy/control/command_runner.hpp"
#include "proxy/control/webhook_sender.hpp"
#include "tests/support/test_backend.hpp"
#include "tests/support/wait.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

namespace keel::test {
namespace {

config::Autoscale::Webhook webhook_to(const TestBackend& hook) {
  std::string problem;
  auto address = config::parse_address(hook.address(), false, problem);
  EXPECT_TRUE(address) << problem;
  return {.url = "http://" + hook.address() + "/scale", .host = hook.address(), .target = "/scale",
          .address = *address};
}

// The control thread of these tests: an io_context on its own thread; every
// call to the sender is posted there, as the sender is single-threaded.
class ControlThread {
 public:
  ControlThread() : work_(boost::asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}
  ~ControlThread() {
    run([this] { sender.reset(); });
    work_.reset();
    io_.stop();
    thread_.join();
  }
  template <class F>
  void run(F f) {
    std::promise<void> done;
    boost::asio::post(io_, [&] {
      f();
      done.set_value();
    });
    done.get_future().wait();
  }
  boost::asio::io_context& io() { return io_; }

  std::unique_ptr<control::WebhookSender> sender;

 private:
  boost::asio::io_context io_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

TEST(WebhookSender, ANewerBodySupersedesOneWaitingForARetry) {
  TestBackend hook{"hook"};
  hook.set_handler([](const RecordedRequest& request) {
    return request.body == "old" ? Reply::text("no", http::status::internal_server_error) : Reply::text("ok");
  });
  ControlThread control;
  control.run([&] {
    control.sender = std::make_unique<control::WebhookSender>(
        control.io(), webhook_to(hook), "web", control::WebhookPolicy{.first_backoff = 5s});
    control.sender->send("old");
  });
  const auto first = hook.next_request();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->body, "old");
  EXPECT_EQ(first->header("User-Agent"), "keel-autoscaler");
  // Once the failed attempt's connection is closed the sender waits for its
  // retry, which would come in 5 s; a newer body goes out at once instead.
  ASSERT_TRUE(wait_until([&] { return hook.open_connection_count() == 0; }, 2s));
  const auto sent = std::chrono::steady_clock::now();
  control.run([&] { control.sender->send("new"); });
  const auto second = hook.next_request(2s);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->body, "new");
  EXPECT_LT(std::chrono::steady_clock::now() - sent, 2s);
  EXPECT_FALSE(hook.next_request(300ms)) << "the old body is not retried any more";
}

TEST(WebhookSender, BacksOffAndGivesUpAfterMaxAttempts) {
  TestBackend hook{"hook"};
  hook.set_reply(Reply::text("down", http::status::service_unavailable));
  ControlThread control;
  control.run([&] {
    control.sender = std::make_unique<control::WebhookSender>(
        control.io(), webhook_to(hook), "web",
        control::WebhookPolicy{.first_backoff = 50ms, .max_backoff = 200ms, .max_attempts = 4});
    control.sender->send("body");
  });
  std::vector<std::chrono::steady_clock::time_point> times;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(hook.next_request()) << "attempt " << i + 1;
    times.push_back(std::chrono::steady_clock::now());
  }
  EXPECT_FALSE(hook.next_request(600ms)) << "no fifth attempt";
  // Backoff 50, 100, 200 ms (each at least that).
  EXPECT_GE(times[1] - times[0], 45ms);
  EXPECT_GE(times[2] - times[1], 95ms);
  EXPECT_GE(times[3] - times[2], 195ms);
}

TEST(WebhookSender, AnUnansweredPostTimesOutAndIsRetried) {
  TestBackend hook{"hook"};
  hook.set_reply(Reply::hang());
  ControlThread control;
  control.run([&] {
    control.sender = std::make_unique<control::WebhookSender>(
        control.io(), webhook_to(hook), "web",
        control::WebhookPolicy{.attempt_timeout = 200ms, .first_backoff = 10ms, .max_attempts = 2});
    control.sender->send("body");
  });
  ASSERT_TRUE(hook.next_request());
  ASSERT_TRUE(hook.next_request(2s)) << "retried after the 200 ms timeout";
  EXPECT_FALSE(hook.next_request(500ms));
}

TEST(WebhookSender, AWebhookThatNeverAnswersDoesNotBlockTheControlThread) {
  TestBackend hook{"hook"};
  hook.set_reply(Reply::text("ok").held());  // reads the POST, answers only at release()
  ControlThread control;
  // send() runs on the control thread. If it waited for the answer, it could not
  // return before release() below; the attempt timeout is far away, so it would
  // not end that way either.
  std::promise<void> returned;
  auto sent = returned.get_future();
  boost::asio::post(control.io(), [&] {
    control.sender = std::make_unique<control::WebhookSender>(control.io(), webhook_to(hook), "web",
                                                               control::WebhookPolicy{.attempt_timeout = 60s});
    control.sender->send("body");
    returned.set_value();
  });
  ASSERT_TRUE(hook.next_request()) << "the POST never arrived";
  const bool send_returned = sent.wait_for(kDefaultDeadline) == std::future_status::ready;
  // While the POST waits for its answer, other work still runs on the control thread.
  std::promise<void> ran;
  auto other_work = ran.get_future();
  boost::asio::post(control.io(), [&] { ran.set_value(); });
  const bool responsive = other_work.wait_for(kDefaultDeadline) == std::future_status::ready;
  hook.release();  // the POST is answered now, so even a blocked send() returns and the test ends
  EXPECT_TRUE(send_returned) << "send() blocked while the webhook had not answered";
  EXPECT_TRUE(responsive) << "the control thread was busy while the webhook had not answered";
  sent.wait();
  other_work.wait();
}

std::string read_file(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// Lets the run blocked on `fifo` go on: opening the write end succeeds once that
// run has the read end open (polled, bounded: the run is another process), and
// the line written ends its `read`.
bool release_run(control::CommandRunner& runner, const std::string& fifo) {
  int fd = -1;
  const bool opened = wait_until(
      [&] {
        runner.reap();  // starts the queued run once the previous one has ended
        fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
        return fd >= 0;
      },
      5s);
  if (!opened) return false;
  const bool written = ::write(fd, "go\n", 3) == 3;
  ::close(fd);
  return written;
}

TEST(CommandRunner, RunsOneAtATimeWithTheLatestValuesQueued) {
  const std::string out = ::testing::TempDir() + "keel-command-" + std::to_string(::getpid());
  std::remove(out.c_str());
  // Run N waits at its own gate (a FIFO named after N), so the first is surely
  // still running while the other values arrive. Run 2 has no gate: if it ran,
  // it would not wait and "web 2" would show.
  const std::string gate = out + ".gate.";
  for (const char* n : {"1", "3"}) {
    std::remove((gate + n).c_str());
    ASSERT_EQ(::mkfifo((gate + n).c_str(), 0600), 0);
  }
  control::CommandRunner runner("read line < " + gate + "$KEEL_DESIRED; echo \"$KEEL_POOL $KEEL_DESIRED\" >> " + out,
                                "web");
  runner.run({{"KEEL_POOL", "web"}, {"KEEL_DESIRED", "1"}});
  EXPECT_TRUE(runner.is_running());
  runner.run({{"KEEL_POOL", "web"}, {"KEEL_DESIRED", "2"}});  // folded into the next run...
  runner.run({{"KEEL_POOL", "web"}, {"KEEL_DESIRED", "3"}});  // ...which takes the latest
  ASSERT_TRUE(release_run(runner, gate + "1"));
  ASSERT_TRUE(release_run(runner, gate + "3"));
  ASSERT_TRUE(wait_until(
      [&] {
        runner.reap();
        return !runner.is_running() && read_file(out).size() >= 12;
      },
      5s))
      << read_file(out);
  EXPECT_EQ(read_file(out), "web 1\nweb 3\n");
  std::remove(out.c_str());
  for (const char* n : {"1", "3"}) std::remove((gate + n).c_str());
}

TEST(CommandRunner, AFailingCommandIsReapedAndTheNextOneRuns) {
  const std::string out = ::testing::TempDir() + "keel-command-fail-" + std::to_string(::getpid());
  std::remove(out.c_str());
  control::CommandRunner runner("test \"$KEEL_DESIRED\" = 2 && echo ran > " + out + "; exit 3", "web");
  runner.run({{"KEEL_DESIRED", "1"}});
  ASSERT_TRUE(wait_until(
      [&] {
        runner.reap();
        return !runner.is_running();
      },
      5s));
  runner.run({{"KEEL_DESIRED", "2"}});
  ASSERT_TRUE(wait_until(
      [&] {
        runner.reap();
        return !runner.is_running();
      },
      5s));
  EXPECT_EQ(read_file(out), "ran\n");
  std::remove(out.c_str());
}

}  // namespace
}  // namespace keel::test
