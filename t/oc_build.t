#!/usr/bin/perl

# The Makefile: make only builds (a missing build package is named, apt-get
# is not run); make deps installs all the suite needs, build-essential
# included (dpkg-checkbuilddeps wants it for make deb); make test and make
# run install before they build; the module's warning flags reach its own
# objects only.  apt-get and dpkg-query are stand-ins that record their
# calls, so nothing is installed.

use strict;
use warnings;

use Test::More;
use lib 't/lib';
use OCTest;

use Cwd qw(abs_path);
use File::Basename qw(dirname);

my $ROOT = dirname(dirname(abs_path(__FILE__)));

plan skip_all => 'no make' unless grep { -x "$_/make" } split /:/, $ENV{PATH};

my $t = OCTest->new;
my $dir = $t->testdir;
my $calls = "$dir/apt-get.calls";

# apt-get records its arguments; dpkg-query reports every package missing
$t->write_file('bin/apt-get', "#!/bin/sh\necho \"\$*\" >> $calls\n",
               mode => 0755);
$t->write_file('bin/dpkg-query', "#!/bin/sh\nexit 1\n", mode => 0755);

sub make {
    my (@args) = @_;
    unlink $calls;
    local $ENV{PATH} = "$dir/bin:$ENV{PATH}";
    delete local $ENV{MAKEFLAGS};
    delete local $ENV{MAKELEVEL};
    # as make test NGINX_SRC=... exports them: each case sets its own
    delete local @ENV{qw(NGINX_SRC NGINX_STATIC)};
    return OCTest::_run_cmd(120, undef, 'make', '--no-print-directory', '-C',
                            $ROOT, "BUILD=$dir/build", @args);
}

sub calls { $t->read_file($calls) // '' }


# ---- make only builds ------------------------------------------------------

my ($rc, $out) = make('all');
isnt($rc, 0, 'make with build packages missing: fails');
like($out, qr/missing packages to build the module: .*\blibcurl4-openssl-dev\b/,
     'make: names the missing packages');
like($out, qr/make deps-build \(as root\), or make deps/,
     'make: says how to install them');
is(calls(), '', 'make: apt-get not run');
ok(!-e "$dir/build/nginx", 'make: nothing configured');

($rc, $out) = make('all', 'NGINX_SRC=/nonexistent/nginx');
like($out, qr/missing packages to build the module: .*\blibpcre2-dev\b/,
     'make NGINX_SRC=...: nginx\'s own build packages checked too');
is(calls(), '', 'make NGINX_SRC=...: apt-get not run');

($rc, $out) = make('all', 'NGINX_STATIC=1');
isnt($rc, 0, 'NGINX_STATIC without NGINX_SRC: fails');
like($out, qr/NGINX_STATIC needs NGINX_SRC/, 'NGINX_STATIC: message');


# ---- make deps, make test, make run install --------------------------------

my $root = $> == 0;

for my $target (qw(deps test run)) {
    ($rc, $out) = make($target);
    my $said = $root ? calls() : $out;

    like($said, qr/install -y --no-install-recommends /,
         "make $target: apt-get install " . ($root ? 'run' : 'printed'));
    for my $pkg (qw(nginx nginx-dev libcurl4-openssl-dev libcjson-dev gcc
                    python3 curl)) {
        like($said, qr/ \Q$pkg\E(?: |$)/m, "make $target installs $pkg");
    }
    isnt($rc, 0, "make $target: stops when the packages did not install")
        if $target ne 'deps' || !$root;
    ok(!-e "$dir/build/nginx", "make $target: nothing built without them");
}

($rc, $out) = make('deps');
my $said = $root ? calls() : $out;
for my $pkg (qw(build-essential debhelper dpkg-dev lintian)) {
    like($said, qr/ \Q$pkg\E(?: |$)/m, "make deps installs $pkg (make deb)");
}
like($said, qr/^update/m, 'make deps: apt-get update first') if $root;


# ---- the module's warnings are its own -------------------------------------

# configure writes CFLAGS into objs/Makefile, where -Wextra and -Werror
# apply only to the module's objects (objs/addon/ngx_oc_module/)
SKIP: {
    my $objs = OCTest::_slurp("$ROOT/build/nginx/objs/Makefile")
        // skip 'no build/nginx/objs/Makefile: run make', 2;
    my ($cflags) = $objs =~ /^CFLAGS\s*=\s*(.*)$/m;

    like($cflags, qr{\$\(if\s\$\(findstring\s/addon/ngx_oc_module/,\$\@\),
                     -Wall\s-Wextra\s-Wno-unused-parameter\s-Werror\)}x,
         '-Wall -Wextra -Werror for the module\'s objects');
    unlike($cflags =~ s/\$\(if \$\(findstring [^)]*\),[^)]*\)//r, qr/-Wextra/,
           'no -Wextra for the other objects');
}

done_testing;
