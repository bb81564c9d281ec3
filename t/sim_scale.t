# Simulator: the indexed element-scoped list, pageSize bound, bulk seeding,
# in-flight reporting and added latency.

use strict;
use warnings;

use Test::More;
use POSIX ();
use OCSim;

my $sim = OCSim->start;

my $r = $sim->seed_many(5000, name => 'bulk-{n}', tags => ['t-{n}', 'bulk'],
    configuration => { 'pipedrive.email' => 'e', 'pipedrive.password' => 'p' });
is_deeply($r, { first => 1, last => 5000 }, 'bulk seed: ids 1..5000');

$r = $sim->api(GET => '/elements/pipedrive/instances?pageSize=500');
is($r->{status}, 200, 'element-scoped list: 200');
is(scalar @{ $r->{json} }, 200, 'pageSize above 200: 200 entries');
is($r->{json}[0]{id}, 1, 'in id order');
is($r->{json}[0]{name}, 'bulk-1', 'name from the template');
ok($r->{headers}{'elements-next-page-token'}, 'a next page token');

# walk the whole list at 200 a page
my ($pages, $seen, $url) = (0, 0, '/elements/pipedrive/instances?pageSize=200');
while ($url && $pages < 100) {
    $r = $sim->api(GET => $url);
    last unless $r->{status} == 200;
    $pages++;
    $seen += @{ $r->{json} };
    my $next = $r->{headers}{'elements-next-page-token'};
    $url = $next
        ? "/elements/pipedrive/instances?pageSize=200&nextPage=$next" : undef;
}
is($pages, 25, '5000 instances: 25 pages of 200');
is($seen, 5000, 'every instance listed once');

$r = $sim->api(GET => '/elements/pipedrive/instances?tags[]=t-4321');
is($r->{status}, 200, 'tag search: 200');
is(scalar @{ $r->{json} }, 1, 'one instance carries the tag');
is($r->{json}[0]{id}, 4321, 'the right one');
ok($r->{json}[0]{token}, 'with its token');

$r = $sim->api(GET =>
    '/elements/pipedrive/instances?tags[]=t-4321&tags[]=bulk');
is(scalar @{ $r->{json} }, 1, 'two tags: both must match');

$r = $sim->api(GET => '/elements/pipedrive/instances?tags[]=nope');
is($r->{status}, 404, 'tag search with no match: 404 per the reference');
ok($r->{json}{requestId}, '404 with the error body');

$r = $sim->api(GET => '/elements/nosuch/instances?tags[]=t-1');
is($r->{status}, 404, 'unknown element: 404');

# a tag change moves the instance in the tag index; the list shows it
$r = $sim->api(PATCH => '/instances/7', { tags => ['moved'] });
is($r->{status}, 200, 'PATCH tags');
is($sim->api(GET => '/elements/pipedrive/instances?tags[]=t-7')->{status},
   404, 'old tag no longer found');
$r = $sim->api(GET => '/elements/pipedrive/instances?tags[]=moved');
is($r->{json}[0]{id}, 7, 'new tag found');
is_deeply($r->{json}[0]{tags}, ['moved'], 'list shows the new tags');

# a deleted instance leaves every index
$sim->api(DELETE => '/instances/7');
is($sim->api(GET => '/elements/pipedrive/instances?tags[]=moved')->{status},
   404, 'deleted: gone from the tag search');
$r = $sim->api(GET => '/instances?pageSize=10');
is_deeply([map { $_->{id} } @{ $r->{json} }], [1 .. 6, 8 .. 11],
    'deleted: gone from the full list');

# rotation shows in the (pre-rendered) list
my $old = $sim->api(GET => '/instances/8')->{json}{token};
$sim->control(POST => '/_sim/instances/8/rotate');
$r = $sim->api(GET => '/elements/pipedrive/instances?tags[]=t-8');
isnt($r->{json}[0]{token}, $old, 'rotated token listed');

# in-flight: three calls with added latency, at once
$sim->reset;
is($sim->inflight->{peak}, 0, 'peak 0 after reset');
$sim->latency(1);
my @pids;
for (1 .. 3) {
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        $sim->api(GET => '/instances/1');
        POSIX::_exit(0);
    }
    push @pids, $pid;
}
# the children may be slow to start on a busy machine: wait for them
my $in = 0;
for (1 .. 40) {
    last if ($in = $sim->inflight->{inflight}) >= 3;
    select(undef, undef, undef, 0.025);
}
is($in, 3, 'three calls in flight');
waitpid($_, 0) for @pids;
is_deeply($sim->inflight, { inflight => 0, peak => 3 }, 'peak 3, none left');
is($sim->count('GET /instances/{id}'), 3, 'three calls recorded');
$sim->reset;
is($sim->inflight->{peak}, 0, 'reset clears the peak');

is($sim->control(POST => '/_sim/instances/bulk', { count => 1 })->{first},
   5001, 'bulk with defaults');
my $bad = $sim->request(POST => '/_sim/instances/bulk',
    content => '{"count": 0}');
is($bad->{status}, 400, 'bulk count 0: 400');

$sim->stop;

# --max-page-size: long lists from few instances
my $small = OCSim->start(max_page_size => 2);
$small->seed_many(5, name => 's-{n}');
$r = $small->api(GET => '/elements/pipedrive/instances?pageSize=200');
is(scalar @{ $r->{json} }, 2, 'max page size 2: two entries');
ok($r->{headers}{'elements-next-page-token'}, 'max page size 2: a next page');
$small->stop;

done_testing;
