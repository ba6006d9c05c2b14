#ifndef AGENTFCGI_CFASTCGI_SHIM_H
#define AGENTFCGI_CFASTCGI_SHIM_H
// fcgiapp.h, not fcgi_stdio.h: the latter redefines stdio and is not thread safe.
#include <fcgiapp.h>
#endif
