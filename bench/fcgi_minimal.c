/*
 * The floor cost of FastCGI: a minimal threaded libfcgi responder that answers every
 * request with {"ok":true}. The benchmark (bench/run.sh) puts it behind the same nginx as
 * agentfcgi, so the difference between the two is what agentfcgi adds on top of libfcgi.
 *
 *   fcgi_minimal SOCKET_PATH [THREADS=4] [GROUP=www-data]
 *
 * Opens a unix socket (mode 0660, group GROUP so nginx's workers can connect), starts
 * THREADS threads that each loop FCGX_Accept_r / write / FCGX_Finish_r on their own heap
 * FCGX_Request, and exits 0 on SIGTERM or SIGINT (libfcgi's own SIGTERM handler does not
 * stop a threaded process, so the main thread takes the signals with sigwait).
 *
 * Build: gcc -O2 -pthread -o fcgi_minimal fcgi_minimal.c $(pkg-config --cflags --libs fcgi)
 */
#include <fcgiapp.h>

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int listen_fd = -1;

static const char reply[] =
    "Status: 200 OK\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 11\r\n"
    "\r\n"
    "{\"ok\":true}";

static void *serve(void *unused) {
    (void)unused;
    FCGX_Request *request = malloc(sizeof *request);
    if (request == NULL || FCGX_InitRequest(request, listen_fd, 0) != 0) {
        fprintf(stderr, "fcgi_minimal: cannot set up a request\n");
        exit(1);
    }
    while (FCGX_Accept_r(request) >= 0) {
        FCGX_PutStr(reply, (int)sizeof reply - 1, request->out);
        FCGX_Finish_r(request);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: %s SOCKET_PATH [THREADS] [GROUP]\n", argv[0]);
        return 2;
    }
    const char *path = argv[1];
    int threads = argc > 2 ? atoi(argv[2]) : 4;
    const char *group = argc > 3 ? argv[3] : "www-data";
    if (threads < 1 || threads > 1024) {
        fprintf(stderr, "fcgi_minimal: THREADS must be 1...1024\n");
        return 2;
    }

    /* Every thread started below inherits this mask; only sigwait sees the signals. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (FCGX_Init() != 0) {
        fprintf(stderr, "fcgi_minimal: FCGX_Init failed\n");
        return 1;
    }
    char address[4096];
    snprintf(address, sizeof address, "%s", path);
    listen_fd = FCGX_OpenSocket(address, 1024);
    if (listen_fd < 0) {
        fprintf(stderr, "fcgi_minimal: cannot listen on %s: %s\n", path, strerror(errno));
        return 1;
    }
    /* FCGX_OpenSocket takes the mode from the umask: set it explicitly. */
    struct group *entry = getgrnam(group);
    if (entry == NULL || chown(path, (uid_t)-1, entry->gr_gid) != 0) {
        fprintf(stderr, "fcgi_minimal: cannot give %s to group %s\n", path, group);
        return 1;
    }
    if (chmod(path, 0660) != 0) {
        fprintf(stderr, "fcgi_minimal: chmod %s: %s\n", path, strerror(errno));
        return 1;
    }

    for (int i = 0; i < threads; i++) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, serve, NULL) != 0) {
            fprintf(stderr, "fcgi_minimal: cannot start thread %d\n", i);
            return 1;
        }
        pthread_detach(thread);
    }

    int received = 0;
    sigwait(&signals, &received);
    shutdown(listen_fd, SHUT_RDWR);
    unlink(path);
    return 0;
}
