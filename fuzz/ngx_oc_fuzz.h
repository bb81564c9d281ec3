
/*
 * Copyright (C) ngx_oc_module authors
 */


#ifndef _NGX_OC_FUZZ_H_INCLUDED_
#define _NGX_OC_FUZZ_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>


/*
 * What the fuzz targets share (fuzz/ngx_oc_fuzz.c): a pool of nginx's in
 * which every allocation is its own malloc() (so that AddressSanitizer
 * sees the exact bounds of each), destroyed after each input, a log that
 * formats every message and keeps this input's, and an ngx_conf_t.
 */

#define ngx_oc_fuzz_assert(expr)                                             \
    if (!(expr)) {                                                           \
        fprintf(stderr, "%s:%d: assertion \"%s\" failed\n",                  \
                __FILE__, __LINE__, #expr);                                  \
        abort();                                                             \
    }


extern ngx_pool_t  *ngx_oc_fuzz_pool;
extern ngx_log_t   *ngx_oc_fuzz_log;


void ngx_oc_fuzz_init(void);
void ngx_oc_fuzz_reset(void);
u_char *ngx_oc_fuzz_copy(const uint8_t *data, size_t size, ngx_uint_t nul);
void ngx_oc_fuzz_touch(ngx_str_t *s);
ngx_conf_t *ngx_oc_fuzz_conf(void);
const char *ngx_oc_fuzz_prefix(void);
ngx_str_t *ngx_oc_fuzz_messages(void);

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


#endif /* _NGX_OC_FUZZ_H_INCLUDED_ */
