#pragma once

#include <chrono>

namespace keel::worker {

using Clock = std::chrono::steady_clock;

class DeadlineList;

// An object with a deadline that its worker's periodic tick enforces. Setting
// a deadline is a plain field write, so the request path arms no timer and
// makes no syscall for it; enforcement is late by at most one tick.
class Expirable {
 public:
  explicit Expirable(DeadlineList& list);
  virtual ~Expirable();
  Expirable(const Expirable&) = delete;
  Expirable& operator=(const Expirable&) = delete;

  void expires_after(Clock::duration timeout) {
    deadline_ = Clock::now() + timeout;
    timed_out_ = false;
  }
  void expires_never() { deadline_ = Clock::time_point::max(); }
  bool timed_out() const { return timed_out_; }

 protected:
  // Worker thread, from the tick, once per passed deadline. May destroy `this`.
  virtual void on_expired() = 0;
  void mark_timed_out() { timed_out_ = true; }

 private:
  friend class DeadlineList;
  DeadlineList& list_;
  Expirable* prev_ = nullptr;
  Expirable* next_ = nullptr;
  Clock::time_point deadline_ = Clock::time_point::max();
  bool timed_out_ = false;
};

// An intrusive list of every Expirable of one worker. Linking and unlinking are
// O(1); the tick walks the whole list, which costs far less than a timer per
// operation for the connection counts one worker holds.
class DeadlineList {
 public:
  void check(Clock::time_point now) {
    Expirable* node = head_;
    while (node != nullptr) {
      Expirable* next = node->next_;  // on_expired may destroy node
      if (node->deadline_ <= now) {
        node->deadline_ = Clock::time_point::max();
        node->timed_out_ = true;
        node->on_expired();
      }
      node = next;
    }
  }
  std::size_t size() const { return size_; }

 private:
  friend class Expirable;
  void link(Expirable* node) {
    node->next_ = head_;
    if (head_) head_->prev_ = node;
    head_ = node;
    ++size_;
  }
  void unlink(Expirable* node) {
    if (node->prev_) node->prev_->next_ = node->next_;
    else head_ = node->next_;
    if (node->next_) node->next_->prev_ = node->prev_;
    --size_;
  }

  Expirable* head_ = nullptr;
  std::size_t size_ = 0;
};

inline Expirable::Expirable(DeadlineList& list) : list_(list) { list_.link(this); }
inline Expirable::~Expirable() { list_.unlink(this); }

}  // namespace keel::worker
