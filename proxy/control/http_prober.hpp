#pragma once

#include "health/checker.hpp"

#include <boost/asio/io_context.hpp>

#include <memory>

namespace keel::tls {
class UpstreamContext;
}

namespace keel::control {

// The transport of a TLS pool's checks: its client context, the one its workers
// use, so a check verifies the certificate (ca_file, verify) and sends SNI
// (server_name, else the backend's configured host) exactly as requests do.
class TlsProbeTransport final : public health::ProbeTransport {
 public:
  explicit TlsProbeTransport(std::shared_ptr<const tls::UpstreamContext> context)
      : context_(std::move(context)) {}
  const std::shared_ptr<const tls::UpstreamContext>& context() const { return context_; }

 private:
  std::shared_ptr<const tls::UpstreamContext> context_;
};

// health::Prober over HTTP/1.1 on the control thread's io_context. Each probe
// opens its own connection to the target's "ip:port" (or "[v6]:port"), sends
//   GET <path> HTTP/1.1 / Host: <address> / User-Agent: keel-health-check /
//   Connection: close
// reads only the response head (at most 16 KiB) and passes iff the status is in
// [expect_min, expect_max]. With a TlsProbeTransport in the settings it speaks
// TLS first (HTTPS); a failed handshake fails the check with OpenSSL's reason.
// Connect, handshake, write and read share one deadline, settings.timeout.
// `done` always runs later on the io_context, never within probe(), and never
// throws out of it; details read "status 503", "connection refused", "timed out
// after 1000ms", "invalid response", "TLS handshake failed: certificate verify
// failed (self-signed certificate in certificate chain)", ...
// A probe in flight keeps running after the HttpProber is destroyed (it holds
// nothing of it) and ends with its deadline or with the io_context.
class HttpProber final : public health::Prober {
 public:
  explicit HttpProber(boost::asio::io_context& ioc);

  void probe(const health::ProbeTarget& target, const health::CheckSettings& settings,
             Done done) override;

 private:
  boost::asio::io_context& ioc_;
};

}  // namespace keel::control
