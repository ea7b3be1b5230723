/* CZlib: zlib for reading .gz data files. Apt package: zlib1g-dev. */
#ifndef CZLIB_SHIM_H
#define CZLIB_SHIM_H
#include <zlib.h>
#endif
