#pragma once

namespace keel::service {

// Tells systemd (Type=notify, see packaging/keel.service) what the process is
// doing, so that `systemctl start` returns once keel accepts connections (and
// fails when keel cannot start), and `systemctl status` shows reloads and stops.
// Without NOTIFY_SOCKET in the environment (not under systemd) each call does
// nothing; in a build without libsystemd (KEEL_SYSTEMD=OFF) none exists either.
// Any thread; each call is one datagram, never on the request path.
void ready();      // READY=1: listeners and admin API accept
void reloading();  // RELOADING=1: a SIGHUP reload starts; ready() ends it
void stopping();   // STOPPING=1: SIGTERM/SIGINT, in-flight requests finish

}  // namespace keel::service
