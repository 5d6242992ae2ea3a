#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <string>

namespace keel::test {

// A 127.0.0.1 port that refuses connections: bound but never listening, and held
// for the test's lifetime, so no test running in parallel can take it and answer
// (a port bound and then closed can be handed out again at once).
//
// It also reserves a fixed port for a listener the test opens later (keel after a
// reload, a TestBackend restarted in place): the holder sets SO_REUSEADDR and never
// listens, so an explicit bind with SO_REUSEADDR (keel's listeners, TestBackend)
// still succeeds and listens there, while ephemeral ports are never this one. Once
// that listener closes, the port refuses connections again.
class DeadPort {
 public:
  DeadPort() : socket_(io_) {
    socket_.open(boost::asio::ip::tcp::v4());
    socket_.set_option(boost::asio::socket_base::reuse_address(true));
    socket_.bind({boost::asio::ip::address_v4::loopback(), 0});
    port_ = socket_.local_endpoint().port();
    address_ = "127.0.0.1:" + std::to_string(port_);
  }
  const std::string& address() const { return address_; }
  std::uint16_t port() const { return port_; }

 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
  std::uint16_t port_ = 0;
  std::string address_;
};

}  // namespace keel::test
