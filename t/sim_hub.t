# Simulator: CRM hub resources (seed data, CRUD, hub segment ignored, ping).

use strict;
use warnings;

use Test::More;
use OCSim;

my $sim = OCSim->start;
my $inst = $sim->seed_instance(name => 'hub', auth => 'accessToken',
    config => { 'pipedrive.api.token' => 't' });
my $tok = $inst->{token};

sub hub { my ($m, $p, $b) = @_; $sim->api($m, $p, $b, element => $tok) }

my $r = hub(GET => '/hubs/crm/ping');
is($r->{status}, 200, 'ping');
is_deeply($r->{json}, { ok => JSON::PP::true }, 'ping answers {"ok":true}');
is($sim->count('GET /hubs/ping'), 1, 'ping counted');

my %first_field = (contacts => 'email1', accounts => 'name',
    opportunities => 'title', activities => 'subject', users => 'email',
    notes => 'content');

for my $res (sort keys %first_field) {
    $r = hub(GET => "/hubs/crm/$res");
    is($r->{status}, 200, "$res: list");
    cmp_ok(scalar @{ $r->{json} }, '>=', 3, "$res: seeded with 3 or more");
    ok(defined $r->{json}[0]{ $first_field{$res} }, "$res: has $first_field{$res}");
    is($r->{headers}{'elements-element-instance-id'}, $inst->{id},
        "$res: instance id header");
    is($r->{headers}{'elements-returned-count'}, scalar @{ $r->{json} },
        "$res: returned count");
}

my $c = hub(GET => '/hubs/crm/contacts')->{json}[0];
ok($c->{name} && $c->{first_name} && $c->{last_name} && $c->{email1}{value},
    'contacts look like Pipedrive persons');

# ---- CRUD on contacts -------------------------------------------------------------

$r = hub(POST => '/hubs/crm/contacts',
    { name => 'Katherine Johnson', first_name => 'Katherine',
      last_name => 'Johnson', email1 => { value => 'kj@example.com' } });
is($r->{status}, 200, 'create');
my $id = $r->{json}{id};
ok($id > 5, 'create assigns a fresh id');
is($r->{json}{name}, 'Katherine Johnson', 'create echoes the record');
ok($r->{json}{add_time}, 'create sets add_time');
is($r->{headers}{'elements-element-instance-id'}, $inst->{id}, 'header on create');

$r = hub(GET => "/hubs/crm/contacts/$id");
is($r->{status}, 200, 'get one');
is($r->{json}{first_name}, 'Katherine', 'get one returns it');

$r = hub(PATCH => "/hubs/crm/contacts/$id", { last_name => 'G. Johnson' });
is($r->{json}{last_name}, 'G. Johnson', 'PATCH changes a field');
is($r->{json}{first_name}, 'Katherine', 'PATCH keeps the others');

$r = hub(PUT => "/hubs/crm/contacts/$id", { name => 'KJ' });
is($r->{json}{name}, 'KJ', 'PUT replaces');
ok(!exists $r->{json}{first_name}, 'PUT drops fields not given');
is($r->{json}{id}, $id, 'PUT keeps the id');

$r = hub(DELETE => "/hubs/crm/contacts/$id");
is($r->{status}, 200, 'delete');
is_deeply($r->{json}, {}, 'delete answers {}');
is(hub(GET => "/hubs/crm/contacts/$id")->{status}, 404, 'deleted record: 404');
is(hub(DELETE => "/hubs/crm/contacts/$id")->{status}, 404, 'delete again: 404');
is(hub(GET => '/hubs/crm/contacts/abc')->{status}, 404, 'non-numeric id: 404');

for my $res (qw(accounts opportunities activities users notes)) {
    my $n = hub(POST => "/hubs/crm/$res", { name => "new $res" })->{json}{id};
    ok($n, "$res: create");
    is(hub(PUT => "/hubs/crm/$res/$n", { name => 'x' })->{json}{name}, 'x',
        "$res: update");
    is(hub(DELETE => "/hubs/crm/$res/$n")->{status}, 200, "$res: delete");
}

# ---- paths ---------------------------------------------------------------------------

my $ids = sub { [ map { $_->{id} } @{ hub(GET => $_[0])->{json} // [] } ] };
my $want = $ids->('/hubs/crm/accounts');
is_deeply($ids->('/hubs/documents/accounts'), $want, 'hub segment is ignored');
is_deeply($ids->('/accounts'), $want, 'path without the hub');
is(hub(GET => '/accounts/1')->{json}{id}, 1, 'get one without the hub');

$r = hub(GET => '/hubs/crm/widgets');
is($r->{status}, 404, 'unknown resource: 404');
ok($r->{json}{requestId}, '404 error body');
is(hub(GET => '/widgets')->{status}, 404, 'unknown bare resource: 404');
is(hub(GET => '/hubs/crm/contacts/1/notes')->{status}, 404, 'sub-resource: 404');
$r = $sim->api(POST => '/hubs/crm/contacts', '{bad', element => $tok, raw => 1);
is($r->{status}, 400, 'invalid JSON body: 400');
is(hub(DELETE => '/hubs/crm/contacts')->{status}, 405, 'DELETE on a list: 405');

# HEAD is GET without the body, with the same 401 for a bad token
$r = hub(HEAD => '/hubs/crm/contacts');
is($r->{status}, 200, 'HEAD on a list: 200');
is($r->{content} // '', '', 'HEAD: no body');
is(hub(HEAD => '/hubs/crm/contacts/1')->{status}, 200, 'HEAD on a record: 200');
is($sim->api(HEAD => '/hubs/crm/contacts', undef, element => 'nope')->{status},
    401, 'HEAD with an unknown token: 401');

# ---- endpoint names -------------------------------------------------------------------

my $counts = $sim->counts;
is($counts->{'GET /hubs/accounts'}, 4, 'hub name dropped in the endpoint');
is($counts->{'GET /hubs/accounts/{id}'}, 1, 'record endpoint');
is($counts->{'PATCH /hubs/contacts/{id}'}, 1, 'PATCH endpoint');
is($counts->{'GET /hubs/widgets'}, 1, 'unknown resource under /hubs/');
is($counts->{'GET other'}, 2, 'unknown bare path and sub-resource are other');

# reset_all brings the seed back
hub(DELETE => '/hubs/crm/notes/1');
is(hub(GET => '/hubs/crm/notes/1')->{status}, 404, 'seed record deleted');
$sim->reset;
is(hub(GET => '/hubs/crm/notes/1')->{status}, 404, 'reset keeps hub data');
$sim->reset_all;
$inst = $sim->seed_instance(name => 'again');
$tok = $inst->{token};
is(hub(GET => '/hubs/crm/notes/1')->{status}, 200, 'reset_all re-seeds');

done_testing;
