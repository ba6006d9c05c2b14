#ifndef AGENTFCGI_CLINUX_SHIM_H
#define AGENTFCGI_CLINUX_SHIM_H
// Linux calls that Swift's Glibc module does not export: epoll and eventfd for the I/O loop, closefrom for spawning.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <malloc.h>
#include <sys/mman.h>

// glibc 2.34+ has it, but declares it only under _GNU_SOURCE, which the Glibc module is built without: a child must
// not inherit a worker's sockets or files, whichever thread opened them without O_CLOEXEC (libfcgi's accept).
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);
static inline int agentfcgi_spawn_closefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}
extern int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *actions, const char *path);
static inline int agentfcgi_spawn_chdir(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}

// Names the calling thread (shown by top -H and in core dumps); pthread_setname_np needs _GNU_SOURCE.
static inline void agentfcgi_name_thread(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }

// Not dumpable: no process of the same user may read this one's memory or environ, or ptrace it (prctl is variadic).
static inline int agentfcgi_not_dumpable(void) { return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); }

static void agentfcgi_ignore_signal(int signo) { (void)signo; }

// Installs a handler that does nothing, without SA_RESTART: a thread blocked in accept() that gets this
// signal returns EINTR, which is how a draining worker wakes its acceptors without shutting down a
// listening socket that systemd shares with the next instance.
static inline int agentfcgi_install_wake_handler(int signo) {
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = agentfcgi_ignore_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;
    return sigaction(signo, &action, NULL);
}
#endif
