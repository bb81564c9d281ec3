
/*
 * Copyright (C) ngx_oc_module authors
 */


#include "ngx_oc_module.h"


ngx_int_t
ngx_oc_shm_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    return NGX_OK;
}


size_t
ngx_oc_shm_size_needed(ngx_uint_t ninstances)
{
    return 8 * ngx_pagesize + ninstances * sizeof(ngx_oc_shrec_t) * 2;
}
