#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <string>

namespace keel::test {

// A 127.0.0.1 port that refuses connections: bound but never listening, and held
// for the test's lifetime, so no test running in parallel can take it and answer
// (a port bound and then closed can be handed out again at once).
class DeadPort {
 public:
  DeadPort() : socket_(io_) {
    socket_.open(boost::asio::ip::tcp::v4());
    socket_.bind({boost::asio::ip::address_v4::loopback(), 0});
    address_ = "127.0.0.1:" + std::to_string(socket_.local_endpoint().port());
  }
  const std::string& address() const { return address_; }

 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
  std::string address_;
};

}  // namespace keel::test
