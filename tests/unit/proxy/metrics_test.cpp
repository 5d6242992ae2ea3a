// The /metrics building blocks: Prometheus text format, status slots, counter
// blocks and the /proc parsers.
#include "proxy/metrics/counters.hpp"
#include "proxy/metrics/exposition.hpp"
#include "proxy/metrics/process_metrics.hpp"
#include "proxy/metrics/status_slots.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>

namespace keel::metrics {
namespace {

TEST(Exposition, CounterWithLabels) {
  Exposition out;
  out.family("keel_requests_total", "counter", "Requests.");
  out.sample("keel_requests_total", {{"pool", "web"}, {"backend", "127.0.0.1:8081"}, {"code", "200"}},
             std::uint64_t{42});
  EXPECT_EQ(out.text(),
            "# HELP keel_requests_total Requests.\n"
            "# TYPE keel_requests_total counter\n"
            "keel_requests_total{pool=\"web\",backend=\"127.0.0.1:8081\",code=\"200\"} 42\n");
}

TEST(Exposition, SampleWithoutLabelsAndDoubles) {
  Exposition out;
  out.sample("a", {}, std::uint64_t{0});
  out.sample("b", {}, 0.25);
  out.sample("c", {}, 1e21);
  out.sample("d", {}, 3.0);
  EXPECT_EQ(out.text(), "a 0\nb 0.25\nc 1e+21\nd 3\n");
}

TEST(Exposition, EscapesLabelValuesAndHelp) {
  Exposition out;
  out.family("m", "gauge", "back\\slash and\nnewline \"quotes stay\"");
  out.sample("m", {{"pool", "a\"b\\c\nd"}}, std::uint64_t{1});
  EXPECT_EQ(out.text(),
            "# HELP m back\\\\slash and\\nnewline \"quotes stay\"\n"
            "# TYPE m gauge\n"
            "m{pool=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(Exposition, HistogramIsCumulativeWithInfSumAndCount) {
  Exposition out;
  const std::array<double, 3> bounds = {0.005, 0.5, 10};
  const std::array<std::uint64_t, 4> counts = {1, 0, 2, 3};
  out.histogram("h", {{"pool", "web"}}, bounds, counts, 61.5);
  EXPECT_EQ(out.text(),
            "h_bucket{pool=\"web\",le=\"0.005\"} 1\n"
            "h_bucket{pool=\"web\",le=\"0.5\"} 1\n"
            "h_bucket{pool=\"web\",le=\"10\"} 3\n"
            "h_bucket{pool=\"web\",le=\"+Inf\"} 6\n"
            "h_sum{pool=\"web\"} 61.5\n"
            "h_count{pool=\"web\"} 6\n");
}

TEST(Exposition, SpecialNumbers) {
  std::string text;
  append_number(text, INFINITY);
  text += ' ';
  append_number(text, -INFINITY);
  text += ' ';
  append_number(text, NAN);
  EXPECT_EQ(text, "+Inf -Inf NaN");
}

TEST(StatusSlots, CommonCodesHaveTheirOwnSlotOthersTheirClass) {
  std::set<std::size_t> used;
  for (const auto code : kCommonStatuses) {
    const auto slot = status_slot(code);
    EXPECT_EQ(status_label(slot), std::to_string(code));
    EXPECT_TRUE(used.insert(slot).second) << code;
  }
  EXPECT_EQ(status_label(status_slot(100)), "1xx");
  EXPECT_EQ(status_label(status_slot(299)), "2xx");
  EXPECT_EQ(status_label(status_slot(305)), "3xx");
  EXPECT_EQ(status_label(status_slot(418)), "4xx");
  EXPECT_EQ(status_label(status_slot(599)), "5xx");
  EXPECT_EQ(status_label(status_slot(99)), "other");
  EXPECT_EQ(status_label(status_slot(600)), "other");
  EXPECT_EQ(status_label(status_slot(-1)), "other");
  for (int code = 100; code < 600; ++code) {
    const auto label = status_label(status_slot(code));
    EXPECT_TRUE(label == std::to_string(code) || (label.size() == 3 && label[0] == '0' + code / 100 &&
                                                  label.substr(1) == "xx"))
        << code;
  }
}

TEST(PoolCounters, DurationsLandInTheFirstBucketThatHoldsThem) {
  WorkerPoolCounters counters;
  counters.observe_duration(0);
  counters.observe_duration(5'000'000);      // exactly the bound: le="0.005"
  counters.observe_duration(5'000'001);      // le="0.01"
  counters.observe_duration(10'000'000'000);  // le="10"
  counters.observe_duration(10'000'000'001);  // +Inf
  EXPECT_EQ(read(counters.duration_buckets[0]), 2u);
  EXPECT_EQ(read(counters.duration_buckets[1]), 1u);
  EXPECT_EQ(read(counters.duration_buckets[10]), 1u);
  EXPECT_EQ(read(counters.duration_buckets[11]), 1u);
  EXPECT_EQ(read(counters.duration_sum_ns), 20'010'000'002u);
  for (std::size_t i = 0; i < kDurationBounds.size(); ++i)
    EXPECT_EQ(static_cast<std::uint64_t>(kDurationBounds[i] * 1e9 + 0.5), kDurationBoundsNs[i]);
}

TEST(PoolCounters, BlocksAreCacheLineAlignedAndSummedOverWorkers) {
  EXPECT_EQ(alignof(WorkerPoolCounters), 64u);
  EXPECT_EQ(alignof(WorkerCounters), 64u);
  PoolStats stats(3);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(&stats.worker(1)) % 64, 0u);
  bump(stats.worker(0).retries);
  bump(stats.worker(2).retries, 4);
  EXPECT_EQ(stats.sum(&WorkerPoolCounters::retries), 5u);
}

TEST(ProcStat, ParsesTheFieldsAfterTheCommand) {
  // A command name with spaces and a ')' must not shift the fields.
  const std::string stat =
      "1234 (ke el) x) S 1 1234 1234 0 -1 4194560 500 0 0 0 "
      "150 50 0 0 20 0 3 0 98765 123456789 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
  const auto fields = parse_proc_stat(stat);
  ASSERT_TRUE(fields.has_value());
  EXPECT_EQ(fields->utime_ticks, 150u);
  EXPECT_EQ(fields->stime_ticks, 50u);
  EXPECT_EQ(fields->start_ticks, 98765u);
  EXPECT_EQ(fields->virtual_bytes, 123456789u);
  EXPECT_EQ(fields->resident_pages, 2048u);
}

TEST(ProcStat, RejectsTruncatedOrGarbage) {
  EXPECT_FALSE(parse_proc_stat(""));
  EXPECT_FALSE(parse_proc_stat("1234 (keel) S 1 2 3"));
  EXPECT_FALSE(parse_proc_stat("no parenthesis at all"));
  EXPECT_FALSE(parse_proc_stat("1 (k) S 1 1 1 0 -1 0 0 0 0 0 x 50 0 0 20 0 3 0 1 2 3 4"));
}

TEST(ProcStat, BootTime) {
  EXPECT_EQ(parse_boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 5\n"), 1700000000u);
  EXPECT_FALSE(parse_boot_time("cpu 1 2 3\n"));
  EXPECT_FALSE(parse_boot_time("btime x\n"));
}

TEST(ProcessSample, ReadsThisProcess) {
  const auto sample = sample_process();
  EXPECT_GT(sample.resident_bytes, 0u);
  EXPECT_GT(sample.virtual_bytes, sample.resident_bytes);
  EXPECT_GT(sample.open_fds, 2u);  // stdin, stdout, stderr at least
  EXPECT_GE(sample.max_fds, sample.open_fds);
  EXPECT_GT(sample.start_time_seconds, 1.6e9);
  EXPECT_GE(sample.cpu_seconds, 0.0);
}

}  // namespace
}  // namespace keel::metrics
