# ngx_oc_module: build, run and test.
#
#   make            build build/ngx_oc_module.so against Debian's nginx-dev
#   make run        nginx + the Open Connectors simulator, in the foreground
#   make test       the test suite (prove)
#   make deps       install what building, running and testing need
#
# make NGINX_SRC=/path/to/nginx-x.y.z builds against an upstream source tree.

SHELL := /bin/bash

NGINX_SRC ?=
NGINX_DEV := /usr/share/nginx/src
BUILD := build
MODULE := $(BUILD)/ngx_oc_module.so
SRCS := config $(wildcard ngx_oc_module/*.[ch])

DEBS := nginx nginx-dev libcurl4-openssl-dev libcjson-dev gcc make \
        perl python3 curl wrk valgrind openssl chromium chromium-driver

# Debian's own compile flags for nginx, so the module matches the binary
DEB_CC_OPT := -g -O2 -fstack-protector-strong -Wformat \
              -Werror=format-security -fPIC -Wdate-time -D_FORTIFY_SOURCE=2
DEB_LD_OPT := -Wl,-z,relro -Wl,-z,now -fPIC

PROVE_FLAGS ?=

.PHONY: all deps deps-check run test clean

all: $(MODULE)

deps:
	@missing=$$(for p in $(DEBS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	        | grep -q 'ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	cmd="apt-get install -y --no-install-recommends $$(echo $$missing)"; \
	if [ "$$(id -u)" != 0 ]; then \
	    echo "missing packages:" $$missing; \
	    echo "run as root: apt-get update && $$cmd"; \
	    exit 1; \
	fi; \
	echo "installing:" $$missing; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -q && $$cmd

deps-check:
	@for p in $(DEBS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	        | grep -q 'ok installed' || { $(MAKE) --no-print-directory deps; \
	                                      exit $$?; }; \
	done

$(BUILD)/nginx/Makefile: config | deps-check
	rm -rf $(BUILD)/nginx
	mkdir -p $(BUILD)
ifeq ($(NGINX_SRC),)
	cp -a $(NGINX_DEV) $(BUILD)/nginx
	cd $(BUILD)/nginx && . ./conf_flags \
	    && ./configure "$${NGX_CONF_FLAGS[@]}" \
	        --with-cc-opt="$(DEB_CC_OPT)" --with-ld-opt="$(DEB_LD_OPT)" \
	        --add-dynamic-module=$(CURDIR) > ../configure.log \
	    || { tail -20 ../configure.log; exit 1; }
else
	cp -a $(NGINX_SRC) $(BUILD)/nginx
	cd $(BUILD)/nginx && ./configure --with-compat --with-debug \
	        --add-dynamic-module=$(CURDIR) > ../configure.log \
	    || { tail -20 ../configure.log; exit 1; }
endif

$(MODULE): $(BUILD)/nginx/Makefile $(SRCS)
	$(MAKE) -C $(BUILD)/nginx -f objs/Makefile modules
	cp $(BUILD)/nginx/objs/ngx_oc_module.so $@

run: $(MODULE)
	@scripts/run-demo

test: $(MODULE)
	prove -I t/lib $(PROVE_FLAGS) -r t/

clean:
	rm -rf $(BUILD)
