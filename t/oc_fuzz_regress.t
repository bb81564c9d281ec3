#!/usr/bin/perl

# The fuzz corpora (fuzz/corpus/TARGET: seeds and every input a fuzz run
# once failed on) replayed through the fuzz targets, built by plain cc with
# AddressSanitizer and UndefinedBehaviorSanitizer and no libFuzzer, linked
# with nginx's own core objects as nginx's Makefile compiles them
# (fuzz/nginx-lib).  The fuzz files define no nginx function of their own
# but the three of main()'s file that only the process cycles call.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use Test::More;

my $root = dirname(dirname(abs_path(__FILE__)));
my $corpus = "$root/fuzz/corpus";

opendir(my $dh, $corpus) or BAIL_OUT("no $corpus: $!");
my @targets = sort grep { !/^\./ && -d "$corpus/$_" } readdir $dh;
closedir $dh;

ok(@targets >= 6, 'a corpus per fuzz target') or diag("found: @targets");

# the replay binaries: "make test" has configured build/nginx already
{
    local %ENV = %ENV;
    delete @ENV{qw(MAKEFLAGS MFLAGS MAKELEVEL)};

    # both CPUs: the first time it builds nginx's objects too
    my $out = qx{make -s -j2 -C '$root' fuzz-replay 2>&1};
    is($?, 0, 'replay targets build') or diag($out);
}

# nginx's functions come from nginx's objects, not from the fuzz files
{
    my %allowed = map { $_ => 1 }
                  qw(ngx_set_environment ngx_exec_new_binary
                     ngx_get_cpu_affinity);
    my @own;
    for my $f (glob "$root/fuzz/*.c") {
        open(my $fh, '<', $f) or die "$f: $!";
        while (<$fh>) {
            push @own, "$1 in $f"
                if /^(ngx_(?!oc_)\w+)\(/ && !$allowed{$1};
        }
    }
    is_deeply(\@own, [], 'no nginx function defined by the fuzz files');

    my $lib = "$root/build/fuzz/replay/nginx/libnginx.a";
    my @defs = grep { / T ngx_(?:vslprintf|escape_uri|create_pool)$/ }
               split /\n/, qx{nm -A '$lib' 2>/dev/null};
    is(scalar @defs, 3, 'formatting, escaping and pools from nginx objects')
        or diag(join "\n", @defs);
}

for my $t (@targets) {
    my $bin = "$root/build/fuzz/replay/fuzz_$t";

    opendir(my $cd, "$corpus/$t") or die "$corpus/$t: $!";
    my $n = grep { !/^\./ && -f "$corpus/$t/$_" } readdir $cd;
    closedir $cd;

    local $ENV{ASAN_OPTIONS} = 'abort_on_error=0:detect_leaks=1';
    local $ENV{UBSAN_OPTIONS} = 'print_stacktrace=1';

    my $out = qx{'$bin' '$corpus/$t' 2>&1};
    my $rc = $?;

    # the replay names each input before it, so the last one failed
    is($rc, 0, "fuzz_$t: $n inputs")
        or diag(join "\n", grep { defined } (split /\n/, $out)[-15 .. -1]);
    like($out, qr/^$n inputs replayed$/m, "fuzz_$t: each input once")
        if $rc == 0;
}

done_testing;
