// A pool's autoscale block (docs/configuration.md "autoscale").
#include "proxy/config/loader.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

namespace keel::config::detail {
namespace {

constexpr std::int64_t kMaxBackends = 10'000;
constexpr double kMaxTargetConcurrency = 1'000'000;
// Samples are kept in 1 s buckets (balancer::kAutoscaleBucket); an hour of
// them is plenty for a stable window.
constexpr Milliseconds kWindowUnit{1'000};
constexpr Milliseconds kMaxWindow{3'600'000};

bool is_iequal_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  return true;
}

}  // namespace

std::optional<double> Loader::positive_number(const Value& value) {
  const bool is_scalar = value.node.IsScalar() && value.node.Tag() != "!";
  const std::string text = is_scalar ? value.node.Scalar() : std::string();
  double number = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (!is_scalar || text.empty() || ec != std::errc{} || end != text.data() + text.size() ||
      !std::isfinite(number)) {
    error(value.mark, "expected a number for " + value.path + ", got " +
                          (is_scalar ? "'" + text + "'" : describe(value.node)));
    return std::nullopt;
  }
  if (number <= 0 || number > kMaxTargetConcurrency) {
    error(value.mark, value.path + " must be a number greater than 0 and at most 1000000, got " + text);
    return std::nullopt;
  }
  return number;
}

std::optional<Autoscale> Loader::load_autoscale(const Value& value) {
  const auto fields =
      mapping(value, Keys{.known = {"target_concurrency", "min_backends", "max_backends", "stable_window",
                                    "panic_window", "webhook", "command"}});
  if (!fields) return std::nullopt;
  const std::size_t errors_before = errors_.size();
  Autoscale autoscale;
  if (const Value* field = fields->find("target_concurrency"))
    if (const auto number = positive_number(*field)) autoscale.target_concurrency = *number;

  const Value* min_field = fields->find("min_backends");
  const Value* max_field = fields->find("max_backends");
  bool counts_valid = true;
  if (min_field) {
    if (const auto n = integer(*min_field, 0, kMaxBackends))
      autoscale.min_backends = static_cast<std::uint32_t>(*n);
    else
      counts_valid = false;
  }
  if (max_field) {
    if (const auto n = integer(*max_field, 1, kMaxBackends))
      autoscale.max_backends = static_cast<std::uint32_t>(*n);
    else
      counts_valid = false;
  }
  if (counts_valid && autoscale.max_backends < autoscale.min_backends) {
    const Value* at = max_field ? max_field : min_field;
    error(at->mark, value.path + ".max_backends (" + std::to_string(autoscale.max_backends) +
                        (max_field ? "" : ", the default") + ") must not be less than " + value.path +
                        ".min_backends (" + std::to_string(autoscale.min_backends) + ")");
  }

  const Value* stable_field = fields->find("stable_window");
  const Value* panic_field = fields->find("panic_window");
  bool windows_valid = true;
  for (const auto& [field, target] : {std::pair(stable_field, &autoscale.stable_window),
                                      std::pair(panic_field, &autoscale.panic_window)}) {
    if (field == nullptr) continue;
    const auto parsed = duration(*field, false);
    if (!parsed) {
      windows_valid = false;
    } else if (*parsed % kWindowUnit != Milliseconds::zero()) {
      error(field->mark, field->path + " must be a whole number of seconds (samples are kept per second), got " +
                             field->node.Scalar());
      windows_valid = false;
    } else if (*parsed > kMaxWindow) {
      error(field->mark, field->path + " must be at most 1h, got " + field->node.Scalar());
      windows_valid = false;
    } else {
      *target = *parsed;
    }
  }
  if (windows_valid && autoscale.panic_window >= autoscale.stable_window) {
    const Value* at = panic_field ? panic_field : stable_field;
    error(at->mark, value.path + ".panic_window (" + std::to_string(autoscale.panic_window.count() / 1000) + "s" +
                        (panic_field ? "" : ", the default") + ") must be shorter than " + value.path +
                        ".stable_window (" + std::to_string(autoscale.stable_window.count() / 1000) + "s" +
                        (stable_field ? "" : ", the default") + ")");
  }

  if (const Value* field = fields->find("webhook")) {
    if (const auto url = string(*field)) {
      // http://host[:port][/path]; https would need a TLS client on the control thread.
      std::string_view rest = *url;
      std::string problem;
      if (is_iequal_prefix(rest, "https://")) {
        problem = "https is not supported, use http://";
      } else if (!is_iequal_prefix(rest, "http://")) {
        problem = "expected http://host:port/path";
      } else {
        rest.remove_prefix(7);
        const auto slash = rest.find('/');
        std::string authority(rest.substr(0, slash));
        std::string target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
        if (authority.find('@') != std::string::npos) {
          problem = "user information in the URL is not supported";
        } else if (target.find_first_of(" \t\r\n#") != std::string::npos) {
          problem = "the path must not contain spaces, line breaks or a fragment";
        } else {
          // No port: 80, as in any http URL.
          const bool has_port = authority.starts_with('[') ? authority.find("]:") != std::string::npos
                                                           : authority.find(':') != std::string::npos;
          const std::string with_port = has_port ? authority : authority + ":80";
          std::string address_problem;
          if (auto address = parse_address(with_port, false, address_problem)) {
            autoscale.webhook = Autoscale::Webhook{
                .url = *url, .host = authority, .target = std::move(target), .address = std::move(*address)};
          } else {
            problem = address_problem;
          }
        }
      }
      if (!problem.empty()) error(field->mark, "invalid webhook '" + *url + "' for " + field->path + ": " + problem);
    }
  }
  if (const Value* field = fields->find("command")) {
    if (const auto command = string(*field)) {
      if (command->find_first_not_of(" \t") == std::string::npos)
        error(field->mark, field->path + " must not be empty");
      else
        autoscale.command = *command;
    }
  }
  if (errors_.size() != errors_before) return std::nullopt;
  return autoscale;
}

}  // namespace keel::config::detail
