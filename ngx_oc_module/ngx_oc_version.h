
/*
 * Copyright (C) ngx_oc_module authors
 */


#ifndef _NGX_OC_VERSION_H_INCLUDED_
#define _NGX_OC_VERSION_H_INCLUDED_


/* the one version string: CHANGELOG.md and debian/changelog agree with it */
#define NGX_OC_VERSION              "0.3.0"
#define NGX_OC_VER                  "ngx_oc_module/" NGX_OC_VERSION


#endif /* _NGX_OC_VERSION_H_INCLUDED_ */
