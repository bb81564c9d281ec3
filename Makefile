# ngx_oc_module: build, run and test.
#
#   make            build build/ngx_oc_module.so against Debian's nginx-dev
#                   (only builds: a missing package is named, not installed)
#   make run        nginx + the Open Connectors simulator, in the foreground
#   make test       the test suite (prove)
#   make deb        the Debian package build/libnginx-mod-http-oc_*.deb
#   make deps       install what building, running and testing need
#   make deps-build install only what make needs to build the module
#   make fuzz       each libFuzzer target for FUZZ_SECONDS (docs/testing.md)
#   make fuzz-regress  replay the fuzz corpora once (make test does too)
#   make test-valgrind the suite with nginx under valgrind memcheck
#   make test-asan  the suite with the module built with AddressSanitizer
#   make chaos      traffic, faults, reloads and kills for DURATION (10m),
#                   the invariants checked on every request (SEED=n replays)
#
# make NGINX_SRC=/path/to/nginx-x.y.z builds against an upstream source tree;
# make test NGINX_SRC=... also builds that nginx into build/nginx/objs/nginx
# and runs the suite with it; NGINX_STATIC=1 builds the module into that
# nginx (--add-module) instead of as a dynamic module (docs/install.md).

SHELL := /bin/bash

NGINX_SRC ?=
NGINX_STATIC ?=
NGINX_DEV := /usr/share/nginx/src
BUILD := build
MODULE := $(BUILD)/ngx_oc_module.so
SRCS := config $(wildcard ngx_oc_module/*.[ch])

# make: what building the module needs (checked, never installed, by make)
BUILD_DEBS := nginx-dev libcurl4-openssl-dev libcjson-dev libssl-dev gcc make
ifneq ($(NGINX_SRC),)
BUILD_DEBS += libpcre2-dev zlib1g-dev
endif

# make run, make test: nginx, the simulator, the clients the tests drive
DEBS := $(BUILD_DEBS) nginx perl python3 curl wrk valgrind openssl \
        chromium chromium-driver

# make deb, and so make test (t/oc_deb.t builds the package and lints it):
# dpkg-checkbuilddeps wants build-essential besides debian/control's list
DEB_DEPS := build-essential debhelper dpkg-dev lintian

# what make deps installs
DEPS ?= $(DEBS) $(DEB_DEPS)

# the package: its version is debian/changelog's
DEB_VERSION := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)
DEB_ARCH := $(shell dpkg --print-architecture)
DEB := $(BUILD)/libnginx-mod-http-oc_$(DEB_VERSION)_$(DEB_ARCH).deb
DEB_SRCS := $(SRCS) LICENSE $(shell find debian -type f) \
            $(wildcard README.md docs/*.md examples/*.conf)

# Debian's own compile flags for nginx, so the module matches the binary
DEB_CC_OPT := -g -O2 -fstack-protector-strong -Wformat \
              -Werror=format-security -fPIC -Wdate-time -D_FORTIFY_SOURCE=2
DEB_LD_OPT := -Wl,-z,relro -Wl,-z,now -fPIC

PROVE_FLAGS ?=
# make test TESTS="t/oc_pass.t t/oc_status.t": some test files only
TESTS ?= t/

# fuzzing: libFuzzer targets built with clang; "make test" replays their
# corpora with the targets built by plain cc.  Both link nginx's own core,
# event and os/unix objects, compiled by nginx's objs/Makefile from the
# tree configured in build/nginx into a directory of each build's own
# (fuzz/nginx-lib): with the sanitizers for libFuzzer, as nginx compiles
# them for the replay.  Debian's nginx-dev has no C files: they come from
# NGINX_SRC's tree, else NGINX_C_SRC (a tree of the same nginx version),
# else the Debian source package, fetched by fuzz/nginx-src.
FUZZ_TARGETS := api_list api_instance api_error api_headers api_body \
                api_oauth_url \
                conf_value conf_zone
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_DEBS := clang libclang-rt-14-dev llvm
FUZZ_OUT := $(BUILD)/fuzz
NGINX_C_SRC ?=
FUZZ_CSRC := $(if $(NGINX_SRC),$(BUILD)/nginx,$(or $(NGINX_C_SRC), \
                 $(FUZZ_OUT)/src/nginx))
FUZZ_NGX := $(FUZZ_OUT)/nginx
FUZZ_REPLAY_NGX := $(FUZZ_OUT)/replay/nginx
fuzz_incs = $(addprefix -I$(1)/src/, core event event/modules os/unix http \
                http/modules http/v2) \
            -I$(1)/objs -Ingx_oc_module -Ifuzz
FUZZ_LINK := fuzz/ngx_oc_fuzz.c fuzz/ngx_oc_fuzz_main.c \
             ngx_oc_module/ngx_oc_api.c ngx_oc_module/ngx_oc_api_body.c \
             ngx_oc_module/ngx_oc_conf.c \
             ngx_oc_module/ngx_oc_secret.c ngx_oc_module/ngx_oc_curl.c \
             ngx_oc_module/ngx_oc_http_answer.c \
             ngx_oc_module/ngx_oc_conf_value.c
FUZZ_HDRS := $(wildcard fuzz/*.h ngx_oc_module/*.h)
FUZZ_OBJS := $(FUZZ_LINK:%.c=$(FUZZ_OUT)/obj/%.o)
FUZZ_REPLAY_OBJS := $(patsubst %.c,$(FUZZ_OUT)/replay/obj/%.o, \
                        $(FUZZ_LINK) fuzz/ngx_oc_fuzz_replay.c)
FUZZ_NGX_DEPS := $(BUILD)/nginx/objs/Makefile fuzz/nginx-lib \
                 $(FUZZ_CSRC)/src/core/ngx_string.c
FUZZ_CFLAGS := -g -O1 -fno-omit-frame-pointer -W -Wall -Wpointer-arith \
               -Wno-unused-parameter -Werror
FUZZ_SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all
# nginx's objects get the sanitizers but no coverage counters: counters for
# the whole core, most of which no target reaches, cost libFuzzer a scan of
# them all after every input, which made every target several times slower
FUZZ_NGX_CFLAGS := -pipe -g -O1 -fno-omit-frame-pointer -W -Wall \
                   -Wpointer-arith -Wno-unused-parameter $(FUZZ_SANITIZE)
FUZZ_LIBS := -lcjson -lcurl -lcrypto

# the suite with nginx under valgrind memcheck, and with the module built
# with AddressSanitizer into build/asan (docs/testing.md)
VALGRIND_LOGS := $(BUILD)/valgrind
VALGRIND_SLOW ?= 3
ASAN_BUILD := $(BUILD)/asan
ASAN_CC_OPT := -g -O1 -fno-omit-frame-pointer -fsanitize=address -fPIC
ASAN_LD_OPT := -fsanitize=address -Wl,-z,relro -Wl,-z,now -fPIC

.PHONY: all deps deps-build deps-check deb-deps-check build-deps-check \
        deps-fuzz deb run test clean FORCE \
        fuzz fuzz-build fuzz-replay fuzz-regress test-valgrind test-asan \
        chaos

all: $(MODULE)

deps:
	@missing=$$(for p in $(DEPS); do \
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

deps-build:
	@$(MAKE) --no-print-directory deps DEPS="$(BUILD_DEBS)"

# make only builds: it names what is missing and how to install it
build-deps-check:
	@missing=$$(for p in $(BUILD_DEBS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	        | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "missing packages to build the module:" $$missing; \
	    echo "install them with: make deps-build (as root), or make deps"; \
	    exit 1; \
	fi

deps-check:
	@for p in $(DEBS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	        | grep -q 'ok installed' || { $(MAKE) --no-print-directory deps \
	                                          DEPS="$(DEBS)"; \
	                                      exit $$?; }; \
	done

deb-deps-check:
	@for p in $(DEB_DEPS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	        | grep -q 'ok installed' || { $(MAKE) --no-print-directory deps \
	                                          DEPS="$(DEB_DEPS)"; \
	                                      exit $$?; }; \
	done

deps-fuzz:
	@for p in $(FUZZ_DEBS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	        | grep -q 'ok installed' || { $(MAKE) --no-print-directory deps \
	                                          DEPS="$(FUZZ_DEBS)"; \
	                                      exit $$?; }; \
	done

# what the nginx of NGINX_SRC is built with: --with-compat so that a module
# built alike loads, and the modules the suite and examples/ use
NGINX_SRC_OPT := --with-compat --with-debug --with-http_ssl_module \
                 --with-http_v2_module --with-http_auth_request_module \
                 --with-http_stub_status_module --with-http_realip_module
NGINX_ADD := $(if $(NGINX_STATIC),--add-module,--add-dynamic-module)
ifneq ($(NGINX_STATIC),)
ifeq ($(NGINX_SRC),)
$(error NGINX_STATIC needs NGINX_SRC: the nginx to build the module into)
endif
endif

# which nginx build/nginx is configured for: a change of NGINX_SRC or
# NGINX_STATIC configures it again
NGINX_ID := $(if $(NGINX_SRC),$(abspath $(NGINX_SRC)),debian) \
            $(if $(NGINX_STATIC),static,dynamic)

$(BUILD)/nginx.id: FORCE
	@mkdir -p $(BUILD)
	@echo '$(NGINX_ID)' | cmp -s - $@ || echo '$(NGINX_ID)' > $@

$(BUILD)/nginx/objs/Makefile: config $(BUILD)/nginx.id | build-deps-check
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
	# a release tarball has ./configure, a checkout of the repository
	# auto/configure
	cd $(BUILD)/nginx && { [ -x configure ] || ln -s auto/configure .; } \
	    && ./configure $(NGINX_SRC_OPT) $(NGINX_ADD)=$(CURDIR) \
	        > ../configure.log \
	    || { tail -20 ../configure.log; exit 1; }
endif

# an nginx binary needs nginx's sources, not only the headers that
# Debian's nginx-dev ships
NGINX_SRC_FULL = @[ -f $(BUILD)/nginx/src/core/nginx.c ] \
    || { echo "$(NGINX_SRC) has nginx's headers only (as Debian's" \
              "nginx-dev): give a release tarball or a checkout of nginx" \
              "to build nginx"; exit 1; }

ifeq ($(NGINX_STATIC),)
$(MODULE): $(BUILD)/nginx/objs/Makefile $(SRCS)
	$(MAKE) -C $(BUILD)/nginx -f objs/Makefile modules
	install -m 755 $(BUILD)/nginx/objs/ngx_oc_module.so $@.tmp && mv -f $@.tmp $@
else
# built in: there is no .so, the nginx binary holds the module
$(MODULE): $(BUILD)/nginx/objs/Makefile $(SRCS)
	$(NGINX_SRC_FULL)
	$(MAKE) -C $(BUILD)/nginx -f objs/Makefile binary
	rm -f $@
endif

# the nginx binary of NGINX_SRC, which make test runs the suite with
$(BUILD)/nginx/objs/nginx: $(MODULE)
	$(NGINX_SRC_FULL)
	$(MAKE) -C $(BUILD)/nginx -f objs/Makefile binary

# Built the way Debian builds its libnginx-mod-* packages (debian/rules: dh
# with dh-sequence-nginx from nginx-dev), in a copy of the tree so that
# debian/ collects no build products.
deb: $(DEB)

$(DEB): $(DEB_SRCS) | deps-check deb-deps-check
	rm -rf $(BUILD)/deb
	mkdir -p $(BUILD)/deb/src
	cp -a config LICENSE ngx_oc_module debian docs \
	    $(wildcard README.md examples) $(BUILD)/deb/src/
	cd $(BUILD)/deb/src && dpkg-buildpackage -b -us -uc -Jauto \
	        > ../build.log 2>&1 \
	    || { tail -30 ../build.log; exit 1; }
	cp $(BUILD)/deb/$(notdir $@) $@

# make run and make test install what they need (make deps) first
ifeq ($(NGINX_SRC),)
TEST_NGINX :=
TEST_ENV :=
else
TEST_NGINX := $(BUILD)/nginx/objs/nginx
# NGINX_SRC and NGINX_STATIC too, for the tests that run make themselves:
# another value would configure build/nginx again under the running suite
TEST_ENV := OC_TEST_NGINX=$(CURDIR)/$(TEST_NGINX) \
            $(if $(NGINX_STATIC),OC_TEST_STATIC=1) \
            NGINX_SRC=$(NGINX_SRC) NGINX_STATIC=$(NGINX_STATIC)
endif

run: | deps-check
	@$(MAKE) --no-print-directory $(MODULE) $(TEST_NGINX)
	@$(if $(TEST_NGINX),NGINX_BIN=$(CURDIR)/$(TEST_NGINX)) scripts/run-demo

test: | deps-check deb-deps-check
	@$(MAKE) --no-print-directory $(MODULE) $(TEST_NGINX)
	$(TEST_ENV) prove -I t/lib $(PROVE_FLAGS) -r $(TESTS)

test-valgrind: | deps-check deb-deps-check
	@$(MAKE) --no-print-directory $(MODULE)
	rm -rf $(VALGRIND_LOGS) && mkdir -p $(VALGRIND_LOGS)
	OC_TEST_NGINX=$(CURDIR)/valgrind/nginx OC_TEST_VALGRIND=1 \
	OC_TEST_SLOW=$(VALGRIND_SLOW) OC_VALGRIND_LOGS=$(CURDIR)/$(VALGRIND_LOGS) \
	    prove -I t/lib $(PROVE_FLAGS) -r $(TESTS); rc=$$?; \
	valgrind/check-logs $(VALGRIND_LOGS) && exit $$rc

test-asan: | deps-check deb-deps-check
	$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) \
	    DEB_CC_OPT="$(ASAN_CC_OPT)" DEB_LD_OPT="$(ASAN_LD_OPT)" \
	    $(ASAN_BUILD)/ngx_oc_module.so
	OC_TEST_NGINX=$(CURDIR)/asan/nginx \
	OC_TEST_MODULE=$(CURDIR)/$(ASAN_BUILD)/ngx_oc_module.so \
	OC_ASAN_LIB=$$($(CC) -print-file-name=libasan.so) \
	    prove -I t/lib $(PROVE_FLAGS) -r $(TESTS)

chaos: $(MODULE)
	bench/chaos

fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run $(FUZZ_OUT) $(FUZZ_TARGETS)

# the objects are named here so that make keeps them (not intermediate)
fuzz-build: $(FUZZ_OBJS) $(FUZZ_TARGETS:%=$(FUZZ_OUT)/fuzz_%)

$(FUZZ_OUT)/src/nginx/src/core/ngx_string.c: | deps-check deb-deps-check
	fuzz/nginx-src $(FUZZ_OUT)/src

$(FUZZ_NGX)/libnginx.a: $(FUZZ_NGX_DEPS) | deps-fuzz
	+fuzz/nginx-lib $(BUILD)/nginx $(FUZZ_CSRC) $(@D) $(FUZZ_CC) \
	    "$(FUZZ_NGX_CFLAGS)"

# the harness and the module's files, compiled once for all the targets
$(FUZZ_OUT)/obj/%.o: %.c $(FUZZ_HDRS) $(FUZZ_NGX)/libnginx.a | deps-fuzz
	@mkdir -p $(@D)
	$(FUZZ_CC) -c $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SANITIZE) \
	    $(call fuzz_incs,$(FUZZ_NGX)) -o $@ $<

$(FUZZ_OUT)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_OBJS) $(FUZZ_HDRS) \
                    $(FUZZ_NGX)/libnginx.a | deps-fuzz
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(FUZZ_SANITIZE) \
	    $(call fuzz_incs,$(FUZZ_NGX)) -o $@ $< $(FUZZ_OBJS) \
	    $(FUZZ_NGX)/libnginx.a $$(cat $(FUZZ_NGX)/libs) $(FUZZ_LIBS)

fuzz-replay: $(FUZZ_REPLAY_OBJS) $(FUZZ_TARGETS:%=$(FUZZ_OUT)/replay/fuzz_%)

$(FUZZ_REPLAY_NGX)/libnginx.a: $(FUZZ_NGX_DEPS)
	+fuzz/nginx-lib $(BUILD)/nginx $(FUZZ_CSRC) $(@D) $(CC)

$(FUZZ_OUT)/replay/obj/%.o: %.c $(FUZZ_HDRS) $(FUZZ_REPLAY_NGX)/libnginx.a
	@mkdir -p $(@D)
	$(CC) -c $(FUZZ_CFLAGS) $(FUZZ_SANITIZE) \
	    $(call fuzz_incs,$(FUZZ_REPLAY_NGX)) -o $@ $<

$(FUZZ_OUT)/replay/fuzz_%: fuzz/fuzz_%.c $(FUZZ_REPLAY_OBJS) $(FUZZ_HDRS) \
                           $(FUZZ_REPLAY_NGX)/libnginx.a
	$(CC) $(FUZZ_CFLAGS) $(FUZZ_SANITIZE) \
	    $(call fuzz_incs,$(FUZZ_REPLAY_NGX)) -o $@ $< $(FUZZ_REPLAY_OBJS) \
	    $(FUZZ_REPLAY_NGX)/libnginx.a $$(cat $(FUZZ_REPLAY_NGX)/libs) \
	    $(FUZZ_LIBS)

fuzz-regress: fuzz-replay
	@for t in $(FUZZ_TARGETS); do \
	    out=$$($(FUZZ_OUT)/replay/fuzz_$$t fuzz/corpus/$$t) \
	        || { echo "fuzz_$$t failed on $$(tail -1 <<< "$$out")"; exit 1; }; \
	    echo "fuzz_$$t: $$(tail -1 <<< "$$out")"; \
	done

clean:
	rm -rf $(BUILD)
