#ifndef AGENTFCGI_CLINUX_SHIM_H
#define AGENTFCGI_CLINUX_SHIM_H
// Linux calls that Swift's Glibc module does not export: epoll and eventfd for the I/O loop.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>

// Names the calling thread (shown by top -H and in core dumps); pthread_setname_np needs _GNU_SOURCE.
static inline void agentfcgi_name_thread(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }
#endif
