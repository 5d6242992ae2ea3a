// The one translation unit that compiles Asio, Beast and Boost.JSON
// (separate compilation keeps every other file's build fast).
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
#include <boost/json/src.hpp>
