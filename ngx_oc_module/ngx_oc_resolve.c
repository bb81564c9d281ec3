
/*
 * Copyright (C) ngx_oc_module authors
 */


#include "ngx_oc_module.h"


ngx_int_t
ngx_oc_init_process(ngx_cycle_t *cycle)
{
    return NGX_OK;
}


void
ngx_oc_exit_process(ngx_cycle_t *cycle)
{
}
