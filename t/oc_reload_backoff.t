#!/usr/bin/perl

# A reload that changes an instance's declaration, a secret or the URL
# resets its back-off: the first request after it tries again at once.
# An unchanged reload keeps the back-off.

use strict;
use warnings;

use Test::More;
use lib 't/lib';
use OCTest;
use OCConf;

my $HTTP = "oc_api_timeout 1s;\n    oc_wait_timeout 3s;";

sub throttled {
    my ($sim) = @_;
    $sim->fault(endpoint => 'GET /elements/{key}/instances', count => 1,
                status => 429,
                headers => { 'Retry-After' => '100' });
}

# a changed declaration
{
    my $t = OCTest->new;
    my $sim = $t->sim;
    throttled($sim);
    $t->write_conf(oc_conf(http => $HTTP))->run;

    like(http_get('/crm/contacts'), qr/ 503 /, 'throttled: 503');
    is($sim->count('GET /elements/{key}/instances'), 1, 'throttled: one call');

    $t->reload;
    like(http_get('/crm/contacts'), qr/ 503 /, 'unchanged reload: still 503');
    is($sim->count('GET /elements/{key}/instances'), 1,
       'unchanged reload: no new call');

    $t->write_conf(oc_conf(http => $HTTP,
                           config => { 'pipedrive.email' => 'new@example.com',
                                       'pipedrive.password' => 'pd' }));
    $t->reload;
    like(http_get('/crm/contacts'), qr/ 200 /,
         'changed declaration: the first request tries again');
    $t->stop;
}

# a changed secret
{
    my $t = OCTest->new;
    my $sim = $t->sim;
    throttled($sim);
    my $conf = oc_conf(http => $HTTP);
    (my $wrong = $conf) =~ s/%%OC_USER_SECRET%%/wrong-user-secret/;
    $t->write_conf($wrong)->run;

    like(http_get('/crm/contacts'), qr/ 503 /, 'wrong secret: 503');

    $t->write_conf($conf);
    $t->reload;
    like(http_get('/crm/contacts'), qr/ 200 /,
         'changed secret: the first request tries again');
    $t->stop;
}

done_testing;
