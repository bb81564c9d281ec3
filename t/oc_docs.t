# docs/directives.md documents every oc_* directive in the module's command tables, in nginx's format (a heading, then Syntax, Default and Context), with the contexts the table allows.

use strict;
use warnings;

use Test::More;

my $DOC = 'docs/directives.md';

sub slurp {
    my ($path) = @_;
    open(my $fh, '<', $path) or die "cannot read $path: $!\n";
    local $/;
    return scalar <$fh>;
}

# the oc_* directives of every ngx_command_t table, with their flags
my %directive;

for my $file (glob 'ngx_oc_module/*.c') {
    my $src = slurp($file);
    $src =~ s{/\*.*?\*/}{}gs;

    while ($src =~ /\bngx_command_t\s+(\w+)\s*\[\s*\]\s*=\s*\{(.*?)\};/gs) {
        my ($tname, $table) = ($1, $2);
        while ($table =~ /\{\s*ngx_string\("(oc_\w+)"\)\s*,\s*([^,]+),/g) {
            # the directives of an oc_instance block have that context
            $directive{$1} = { file => $file, flags => $2,
                               block => $tname eq 'ngx_oc_instance_commands' };
        }
    }
}

ok(exists $directive{oc_pass} && exists $directive{oc_instance},
   'command tables found in ngx_oc_module/*.c')
    or BAIL_OUT('no oc_* directive found: has the table layout changed?');

# docs/directives.md: "## name" sections
my %doc;
my $md = slurp($DOC);

for my $section (split /^(?=## )/m, $md) {
    next unless $section =~ /\A## +(\S+)/;
    my $name = $1;
    my %entry;
    for my $key (qw(Syntax Default Context)) {
        $entry{$key} = $1 if $section =~ /^\s*$key:\s*(.*?)\s*$/m;
    }
    $doc{$name} = \%entry;
}

my %context_name = (
    NGX_HTTP_MAIN_CONF => 'http',
    NGX_HTTP_SRV_CONF  => 'server',
    NGX_HTTP_LOC_CONF  => 'location',
    NGX_HTTP_UPS_CONF  => 'upstream',
    NGX_HTTP_SIF_CONF  => 'if in server',
    NGX_HTTP_LIF_CONF  => 'if in location',
    NGX_HTTP_LMT_CONF  => 'limit_except',
);

for my $name (sort keys %directive) {
    my $entry = $doc{$name};

    my $ok = ok($entry && defined $entry->{Syntax}
                && $entry->{Syntax} =~ /^\Q$name\E\b/
                && defined $entry->{Default}
                && defined $entry->{Context},
                "$DOC: $name has a heading and Syntax, Default, Context");
    unless ($ok) {
        diag("$name ($directive{$name}{file}) has no entry in $DOC:"
             . " add \"## $name\" with Syntax:, Default: and Context:");
        next;
    }

    my @want = map { $context_name{$_} // () }
               $directive{$name}{flags} =~ /(NGX_HTTP_\w+_CONF)\b/g;
    @want = ('oc_instance') if $directive{$name}{block};
    my @have = split /\s*,\s*/, $entry->{Context};

    is_deeply([ sort @have ], [ sort @want ],
              "$DOC: $name Context matches its command table");
}

for my $name (sort grep { /^oc_/ } keys %doc) {
    ok(exists $directive{$name}, "$DOC: $name is a directive of the module");
}

done_testing;
