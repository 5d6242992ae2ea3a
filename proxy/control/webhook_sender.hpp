#pragma once

#include "proxy/config/config.hpp"

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace keel::control {

struct WebhookPolicy {
  std::chrono::milliseconds attempt_timeout{2'000};  // connect + request + response head
  std::chrono::milliseconds first_backoff{250};      // doubled after each failure
  std::chrono::milliseconds max_backoff{8'000};
  int max_attempts = 8;  // then the payload is dropped (logged); the API still shows it
};

// POSTs JSON bodies to one autoscale webhook from the control thread, one at a
// time, asynchronously: a failed POST (connection error, timeout, non-2xx) is
// retried with exponential backoff; a newer body supersedes one waiting for a
// retry, so the listener always ends up with the latest recommendation.
// Nothing here ever blocks the control thread or touches the workers.
class WebhookSender {
 public:
  WebhookSender(boost::asio::io_context& io, config::Autoscale::Webhook target, std::string pool,
                WebhookPolicy policy = {});
  // Abandons what is pending; an attempt in flight ends with its timeout.
  ~WebhookSender();
  WebhookSender(const WebhookSender&) = delete;
  WebhookSender& operator=(const WebhookSender&) = delete;

  // Control thread.
  void send(std::string json_body);
  const config::Autoscale::Webhook& target() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace keel::control
