#!/usr/bin/perl

# The fuzz corpora (fuzz/corpus/TARGET: seeds and every input a fuzz run
# once failed on) replayed through the fuzz targets, built by plain cc with
# AddressSanitizer and UndefinedBehaviorSanitizer: no libFuzzer, no nginx.

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

    my $out = qx{make -s -C '$root' fuzz-replay 2>&1};
    is($?, 0, 'replay targets build') or diag($out);
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
