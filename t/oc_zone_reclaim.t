#!/usr/bin/perl

# Zone records of oc_instance blocks that a reload removed are reclaimed
# once the old workers are gone: renaming a block over many reloads in a
# zone of the minimum size never fills it.

use strict;
use warnings;

use Test::More;
use lib 't/lib';
use OCTest;
use OCConf;

my $N = 30;

my $t = OCTest->new;
my $sim = $t->sim;

# the smallest zone nginx -t accepts, in pages
my $min = smallest_zone($t);
ok($min, "nginx -t accepts a zone of $min");

write_renamed($t, 'pd0', $min);
$t->run;
like(http_get('/crm/contacts'), qr/ 200 /, 'served in a zone of the minimum');

my $applied = 0;
for my $i (1 .. $N) {
    write_renamed($t, "pd$i", $min);
    my ($rc) = $t->test_config;
    last if $rc != 0;
    last unless eval { $t->reload; 1 };
    $applied++;
}
is($applied, $N, "$N renames over reloads: every reload applied");
like(http_get('/crm/contacts'), qr/ 200 /, 'still served after the renames');
ok(!$t->grep_log(qr/is too small/), 'the zone never ran out');

$t->stop;

done_testing;
