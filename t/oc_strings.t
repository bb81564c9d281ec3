#!/usr/bin/perl

# Open Connectors strings are compared whole: a name or an element with a
# NUL in it is not ours (no PATCH, no token taken); ids are positive
# integers; a bad entry that is not ours is skipped, one that is ours
# fails the resolution with its reason.

use strict;
use warnings;

use Test::More;
use lib 't/lib';
use OCTest;
use OCConf;

my $HTTP = "oc_api_timeout 1s;\n    oc_api_retries 1;\n    oc_wait_timeout 3s;";

my $E = '"element":{"key":"pipedrive"}';
my @foreign = (
    qq({"id":501,"name":"acme-crm\\u0000-not-ours",$E,"token":"tok-nul-name"}),
    qq({"id":502,"name":"acme-crm","element":{"key":"pipedrive\\u0000x"},)
        . qq("token":"tok-nul-element"}),
    qq({"id":"503","name":"other",$E,"token":"t3"}),
    qq({"id":-4,"name":"other",$E,"token":"t4"}),
    qq({"id":7.9,"name":"other",$E,"token":"t5"}),
    qq({"name":"other",$E,"token":"t6"}),
    qq({"id":9007199254740993,"name":"other",$E,"token":"t7"}),
    qq("not an object"),
);

# foreign and bad entries only: nginx creates its own instance
{
    my $t = OCTest->new;
    my $sim = $t->sim;
    $sim->fault(endpoint => 'GET /elements/{key}/instances', count => 1,
                body => '[' . join(',', @foreign) . ']');
    $t->write_conf(oc_conf(http => $HTTP))->run;

    like(http_get('/crm/contacts', timeout => 8), qr/^HTTP\/1\.1 200 /,
         'bad and foreign entries skipped: resolved');
    is($sim->count('PATCH /instances/{id}'), 0,
       'NUL name or element: no PATCH');
    is($sim->count('POST /instances'), 1, 'ours created');

    my ($inst) = grep { $_->{name} eq 'acme-crm' } @{ $sim->instances };
    is(hub_token($sim), $inst->{token}, 'the token of our own instance');
    $t->stop;
}

# our own entry with a bad id: that resolution fails, with the reason
for my $id ('7.9', '"7"', '-7', '0') {
    my $t = OCTest->new;
    my $sim = $t->sim;
    $sim->fault(endpoint => 'GET /elements/{key}/instances', count => 10,
                body => qq([{"id":$id,"name":"acme-crm",$E,"token":"tok"}]));
    $t->write_conf(oc_conf(http => $HTTP))->run;

    like(http_get('/crm/contacts', timeout => 8), qr/^HTTP\/1\.1 503 /,
         "id $id: 503");
    ok($t->grep_log(qr/\[error\].*GET \/elements\/\{key\}\/instances /
                    . qr/by tag: instance has no valid "id"/),
       "id $id: the reason is logged");
    is($sim->count('PATCH /instances/{id}'), 0, "id $id: no PATCH");
    is($sim->count('POST /instances'), 0, "id $id: no POST");
    $t->stop;
}

done_testing;
