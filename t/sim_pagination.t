# Simulator: paging of GET /instances and hub lists, and the tags[] filter.

use strict;
use warnings;

use Test::More;
use OCSim;

my $sim = OCSim->start(page_size => 2);

my @ids;
for my $n (1 .. 5) {
    my $tags = $n % 2 ? ['odd', 'all'] : ['even', 'all'];
    push @ids, $sim->seed_instance(name => "i$n", tags => $tags,
        config => { 'pipedrive.email' => 'e', 'pipedrive.password' => 'p' })->{id};
}
is_deeply(\@ids, [1 .. 5], 'five instances seeded');

# Follow Elements-Next-Page-Token; returns ([pages of ids], [responses]).
sub walk {
    my ($path) = @_;
    my (@pages, @resp);
    my $url = $path;
    while (1) {
        my $r = $sim->api(GET => $url);
        push @resp, $r;
        last unless $r->{status} == 200;
        push @pages, [ map { $_->{id} } @{ $r->{json} } ];
        my $next = $r->{headers}{'elements-next-page-token'} or last;
        my $sep = $path =~ /\?/ ? '&' : '?';
        $url = "$path${sep}nextPage=$next";
        last if @resp > 10;
    }
    return (\@pages, \@resp);
}

my ($pages, $resp) = walk('/instances');
is_deeply($pages, [[1, 2], [3, 4], [5]], 'three pages of page_size 2');
ok($resp->[0]{headers}{'elements-next-page-token'}, 'page 1 has a token');
ok($resp->[1]{headers}{'elements-next-page-token'}, 'page 2 has a token');
ok(!exists $resp->[2]{headers}{'elements-next-page-token'},
    'last page has no token');
isnt($resp->[0]{headers}{'elements-next-page-token'},
     $resp->[1]{headers}{'elements-next-page-token'}, 'tokens differ');
unlike($resp->[0]{headers}{'elements-next-page-token'}, qr/^\d+$/,
    'token is opaque, not a bare offset');
like($sim->calls->[-1]{query}, qr/^nextPage=[^&]+$/,
    'the last call carried nextPage');

($pages) = walk('/instances?pageSize=3');
is_deeply($pages, [[1, 2, 3], [4, 5]], 'pageSize overrides the default');

($pages) = walk('/instances?pageSize=5');
is_deeply($pages, [[1 .. 5]], 'exact fit: one page, no token');

($pages) = walk('/elements/pipedrive/instances?hydrate=false');
is_deeply($pages, [[1, 2], [3, 4], [5]], 'GET /elements/{key}/instances pages');

my $r = $sim->api(GET => '/instances?nextPage=bm90LWEtdG9rZW4');
is($r->{status}, 400, 'unknown nextPage token: 400');
ok($r->{json}{requestId}, 'with the error body');
is($sim->api(GET => '/instances?pageSize=0')->{status}, 400, 'pageSize 0: 400');
is($sim->api(GET => '/instances?pageSize=x')->{status}, 400, 'pageSize x: 400');

# ---- tags ------------------------------------------------------------------------

($pages) = walk('/instances?tags[]=odd');
is_deeply($pages, [[1, 3], [5]], 'tags[]=odd, paged');
($pages) = walk('/instances?tags%5B%5D=even&pageSize=10');
is_deeply($pages, [[2, 4]], 'tags%5B%5D=even');
($pages) = walk('/instances?tags[]=odd&tags[]=all&hydrate=false');
is_deeply($pages, [[1, 3], [5]], 'two tags: all must match');
$r = $sim->api(GET => '/instances?tags[]=odd&tags[]=even');
is($r->{status}, 404, 'no instance has both tags: 404');
ok($r->{json}{requestId} && $r->{json}{message}, '404 has the error body');
is($sim->api(GET => '/instances?tags[]=none')->{status}, 404,
    'unknown tag: 404');
is($sim->api(GET => '/elements/pipedrive/instances?tags[]=none')->{status}, 404,
    'unknown tag on the element list: 404');

$sim->reset_all;
$r = $sim->api(GET => '/instances');
is($r->{status}, 200, 'after reset_all: unfiltered 200');
is_deeply($r->{json}, [], '... and empty');
ok(!exists $r->{headers}{'elements-next-page-token'}, '... with no token');

# ---- hub lists ---------------------------------------------------------------------

my $tok = $sim->seed_instance(name => 'hub')->{token};

sub hub_walk {
    my ($path) = @_;
    my (@names, @counts);
    my $url = $path;
    for (1 .. 10) {
        my $r = $sim->api(GET => $url, undef, element => $tok);
        return undef unless $r->{status} == 200;
        push @names, [ map { $_->{id} } @{ $r->{json} } ];
        push @counts, $r->{headers}{'elements-returned-count'};
        my $next = $r->{headers}{'elements-next-page-token'} or last;
        $url = "$path&nextPage=$next";
    }
    return (\@names, \@counts);
}

my ($hp, $counts) = hub_walk('/hubs/crm/contacts?pageSize=2');
is_deeply($hp, [[1, 2], [3, 4], [5]], 'hub nextPage paging');
is_deeply($counts, [2, 2, 1], 'Elements-Returned-Count per page');

my @by_page;
for my $p (1 .. 4) {
    my $r = $sim->api(GET => "/hubs/crm/contacts?page=$p&pageSize=2", undef,
        element => $tok);
    push @by_page, [ [ map { $_->{id} } @{ $r->{json} } ],
                     $r->{headers}{'elements-next-page-token'} ? 1 : 0 ];
}
is_deeply(\@by_page, [[[1, 2], 1], [[3, 4], 1], [[5], 0], [[], 0]],
    'page+pageSize paging, token only while more remain');

$r = $sim->api(GET => '/hubs/crm/contacts', undef, element => $tok);
is($r->{headers}{'elements-returned-count'}, 2, 'hub default is --page-size');

$r = $sim->api(GET => '/hubs/crm/contacts?nextPage=bogus', undef,
    element => $tok);
is($r->{status}, 400, 'bad hub nextPage: 400');

my $inst_token = $sim->api(GET => '/hubs/crm/accounts?pageSize=1', undef,
    element => $tok)->{headers}{'elements-next-page-token'};
$r = $sim->api(GET => "/hubs/crm/contacts?nextPage=$inst_token", undef,
    element => $tok);
is($r->{status}, 400, 'a token of another list is refused');

is($sim->count('GET /instances'), 1, 'reset_all restarted the counts');
is($sim->count('GET /hubs/contacts'), 10, 'hub list calls counted');
is($sim->count('GET /hubs/accounts'), 1, 'per resource');

done_testing;
