#include "proxy/control/autoscale_driver.hpp"

#include "proxy/admin/json_codec.hpp"
#include "proxy/log/log.hpp"

#include <boost/json/object.hpp>

#include <cmath>
#include <cstdio>
#include <utility>

namespace keel::control {
namespace {

bool same_settings(const config::Autoscale& a, const config::Autoscale& b) {
  const auto url = [](const config::Autoscale& s) { return s.webhook ? s.webhook->url : std::string(); };
  return to_autoscale_settings(a) == to_autoscale_settings(b) && url(a) == url(b) && a.command == b.command;
}

// Three decimals: enough for a dashboard, stable in a test's eyes.
double rounded(double value) { return std::round(value * 1000) / 1000; }

std::string number_text(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.3f", rounded(value));
  return text;
}

}  // namespace

balancer::AutoscaleSettings to_autoscale_settings(const config::Autoscale& settings) {
  return {.target_concurrency = settings.target_concurrency,
          .min_backends = settings.min_backends,
          .max_backends = settings.max_backends,
          .stable_window = settings.stable_window,
          .panic_window = settings.panic_window};
}

AutoscaleDriver::AutoscaleDriver(boost::asio::io_context& io, Sampler sampler)
    : io_(io), sampler_(std::move(sampler)), timer_(io) {}

AutoscaleDriver::~AutoscaleDriver() { stop(); }

void AutoscaleDriver::start() {
  if (running_) return;
  running_ = true;
  sample(Clock::now());
}

void AutoscaleDriver::stop() {
  running_ = false;
  timer_.cancel();
  pools_.clear();  // pending webhooks are abandoned
  order_.clear();
}

void AutoscaleDriver::schedule() {
  if (!running_) return;
  timer_.expires_after(kAutoscaleSampleInterval);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec && running_) sample(Clock::now());
  });
}

balancer::Autoscaler::Time AutoscaleDriver::since_origin(Clock::time_point now) {
  return std::chrono::duration_cast<balancer::Autoscaler::Time>(now.time_since_epoch());
}

void AutoscaleDriver::sample(Clock::time_point now) {
  const auto loads = sampler_();
  const auto time = since_origin(now);
  std::vector<std::string> order;
  std::map<std::string, PoolState, std::less<>> next;
  for (const auto& load : loads) {
    order.push_back(load.name);
    auto found = pools_.find(load.name);
    if (found != pools_.end() && same_settings(found->second.settings, load.settings)) {
      next.emplace(load.name, std::move(found->second));
    } else {
      // New, or changed by a reload: a fresh window, starting from the last
      // recommendation so a reload alone does not announce a change.
      const std::uint32_t start =
          found != pools_.end() ? found->second.announced : load.last_desired.value_or(load.current);
      PoolState state{.settings = load.settings,
                      .autoscaler = balancer::Autoscaler(to_autoscale_settings(load.settings), start, time),
                      .current = load.current,
                      .announced = start,
                      .next_decision = now + kAutoscaleDecisionInterval,
                      .webhook = nullptr,
                      .command = nullptr};
      if (found != pools_.end()) {
        if (found->second.webhook && load.settings.webhook &&
            found->second.webhook->target().url == load.settings.webhook->url)
          state.webhook = std::move(found->second.webhook);  // keeps a pending delivery
        if (found->second.command && found->second.command->command() == load.settings.command)
          state.command = std::move(found->second.command);
      }
      if (!state.webhook && load.settings.webhook)
        state.webhook = std::make_unique<WebhookSender>(io_, *load.settings.webhook, load.name);
      if (!state.command && !load.settings.command.empty())
        state.command = std::make_unique<CommandRunner>(load.settings.command, load.name);
      next.emplace(load.name, std::move(state));
    }
  }
  pools_ = std::move(next);
  order_ = std::move(order);

  for (const auto& load : loads) {
    PoolState& pool = pools_.at(load.name);
    pool.current = load.current;
    pool.autoscaler.record(time, static_cast<double>(load.in_flight + load.waiting) + load.others_concurrency);
    if (pool.command) pool.command->reap();
    const std::uint64_t waiting = load.waiting + load.others_waiting;
    // An empty pool with requests waiting is decided at once (scale from zero).
    const bool starved = load.current == 0 && waiting > 0 && pool.autoscaler.last().desired == 0;
    if (now < pool.next_decision && !starved) continue;
    pool.next_decision = now + kAutoscaleDecisionInterval;
    const auto decision = pool.autoscaler.decide(time, load.current, waiting);
    if (decision.desired != pool.announced) {
      pool.announced = decision.desired;
      announce(load.name, pool);
    }
  }
  schedule();
}

void AutoscaleDriver::set_leader(bool leader) {
  if (leader == announcing_) return;
  announcing_ = leader;
  if (leader) {
    pools_.clear();
    order_.clear();
    if (running_) sample(Clock::now());  // the API never shows the pool missing meanwhile
  }
}

void AutoscaleDriver::announce(const std::string& name, PoolState& pool) {
  if (!announcing_) return;
  const auto& decision = pool.autoscaler.last();
  if (listener_)
    listener_({.pool = name,
               .current = pool.current,
               .desired = decision.desired,
               .observed_concurrency = rounded(decision.observed_concurrency),
               .mode = balancer::to_string(decision.mode),
               .decided_by = {}});
  log::info("pool " + name + ": autoscale desired " + std::to_string(decision.desired) + " (current " +
            std::to_string(pool.current) + ", observed concurrency " + number_text(decision.observed_concurrency) +
            ", " + balancer::to_string(decision.mode) + ")");
  if (pool.webhook) {
    const boost::json::object body{{"pool", name},
                                   {"current", pool.current},
                                   {"desired", decision.desired},
                                   {"observed_concurrency", rounded(decision.observed_concurrency)},
                                   {"mode", balancer::to_string(decision.mode)}};
    pool.webhook->send(admin::json_text(body));
  }
  if (pool.command)
    pool.command->run({{"KEEL_POOL", name},
                       {"KEEL_CURRENT", std::to_string(pool.current)},
                       {"KEEL_DESIRED", std::to_string(decision.desired)},
                       {"KEEL_OBSERVED_CONCURRENCY", number_text(decision.observed_concurrency)},
                       {"KEEL_MODE", balancer::to_string(decision.mode)}});
}

std::vector<admin::AutoscaleInfo> AutoscaleDriver::status() const {
  std::vector<admin::AutoscaleInfo> result;
  for (const auto& name : order_) {
    const PoolState& pool = pools_.at(name);
    const auto& decision = pool.autoscaler.last();
    result.push_back({.pool = name,
                      .current = pool.current,
                      .desired = decision.desired,
                      .observed_concurrency = rounded(decision.observed_concurrency),
                      .mode = balancer::to_string(decision.mode),
                      .decided_by = {}});
  }
  return result;
}

}  // namespace keel::control
