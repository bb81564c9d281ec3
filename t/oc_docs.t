# docs/directives.md documents every oc_* directive in the module's command tables, in nginx's format (a heading, then Syntax, Default and Context), with the contexts the table allows; every state the docs name exists in the code; every log message troubleshooting.md quotes is in the source.

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


# ---- the states the docs name are the states of the code --------------------

# ngx_oc_state_names in ngx_oc_status.c, the names the status output uses
my $status_c = slurp('ngx_oc_module/ngx_oc_status.c');
my ($state_table) = $status_c =~ /ngx_oc_state_names\[\]\s*=\s*\{(.*?)\};/s;
my @states = ($state_table // '') =~ /ngx_string\("(\w+)"\)/g;

is_deeply([ sort @states ],
          [ sort qw(absent ready stale failed unauthorized disabled) ],
          'ngx_oc_state_names found in ngx_oc_status.c');

my %state = map { $_ => 1 } @states;

for my $doc (glob('docs/*.md'), 'README.md') {
    my $text = slurp($doc);

    # "state":"x", state="x", "state": "x", `"state":"x"`
    my @named = $text =~ /"?state"?\s*[:=]\s*"(\w+)"/g;

    for my $name (@named) {
        next if $name =~ /^(used|free)$/;       # ngx_oc_zone_pages
        ok($state{$name}, "$doc: state \"$name\" exists in the code");
    }
}

# the table of instance states in directives.md lists each state once
{
    my $md = slurp($DOC);
    my ($table) = $md =~ /^## +Instance states\s*$(.*?)(?=^## )/ms;
    $table //= $md;
    for my $name (@states) {
        like($table, qr/^\| *`?\Q$name\E`? *\|/m,
             "$DOC: the state table has \"$name\"");
    }
}


# ---- every log message troubleshooting.md quotes is in the source ----------

# every string literal of the module, adjacent ones joined, as a pattern
# whose conversions (%V, %ui, %*s, ...) match any text, with the number of
# its characters that are not conversions
my $CONV = qr/%[-+ #0]*\*?\d*(?:\.\*)?[uxX]?(?:V|s|i|z|d|L|l|T|M|A|O|P|p|c|N|r|Z|f)/;
my (@formats, %word);

for my $file (glob 'ngx_oc_module/*.c') {
    my $src = slurp($file);
    $src =~ s{/\*.*?\*/}{}gs;

    # nginx's names of system calls, between the literals of a message
    $src =~ s/\bngx_open_file_n\b/"open()"/g;
    $src =~ s/\bngx_fd_info_n\b/"fstat()"/g;
    $src =~ s/\bngx_close_file_n\b/"close()"/g;

    while ($src =~ /((?:"(?:[^"\\\n]|\\.)*"\s*)+)/g) {
        my $lit = $1;
        my $text = join '', $lit =~ /"((?:[^"\\\n]|\\.)*)"/g;
        $text =~ s/\\(["\\'])/$1/g;
        $text =~ s/\\n/\n/g;
        next if length $text < 4;

        my $re = join '', map {
            /^%/ ? '.+?' : quotemeta
        } split /($CONV)/, $text;

        (my $fixed = $text) =~ s/$CONV//g;
        push @formats, [ qr/^$re$/s, length $fixed ];
        $word{$_} = 1 for $fixed =~ /([a-zA-Z][a-zA-Z0-9_]*)/g;
    }
}

ok(@formats > 100, 'string literals found in ngx_oc_module/*.c');

# nginx's own messages for a directive, around the module's text
my @nginx = (
    qr/^"\w+" directive (?:is not allowed here|invalid value|invalid number)$/,
    qr/^unexpected "\{"$/,
    qr/^value must be between \d+ and \d+$/,
    qr/^open\(\) ".*" failed$/,
    qr/^invalid value ".*" in ".*" directive, it must be "on" or "off"$/,
    qr/^worker process \d+ exited on signal \d+$/,
    qr/^ngx_slab_alloc\(\) failed: no memory in oc_zone ".*"$/,
);

# a line the resolution puts together: a prefix, the call, what it got
# and a suffix, each from a literal of its own
my $PREFIX = qr/^(?:oc_instance "[^"]*": |oc_pass: instance "[^"]*" unavailable: |oc_oauth_start: )/;
my $SUFFIX = qr/(?: \(requestId: [^)]*\))?(?:, the token stays in use|, retrying in \d+ ms \(\d+ of \d+\))?$/;
my $CALL = qr/(?:re-authorizing with )?(?:GET|POST|PUT|PATCH|DELETE) \/\S*/;

sub composed {
    my ($msg) = @_;

    return () unless $msg =~ s/$PREFIX// && $msg =~ s/$SUFFIX//;

    # libcurl's or Open Connectors' text after the call
    return ('') if $msg =~ /^$CALL (?:answered \d+(?:: .+)?|failed: .+)$/;

    # the module's own reason, with the call, after it or alone
    my $with_call = $msg;
    $msg =~ s/^$CALL: //;

    return ($msg, $with_call);
}

my $ts = slurp('docs/troubleshooting.md');
my $in_code = 0;
my $n = 0;

for my $line (split /\n/, $ts) {
    $in_code = !$in_code if $line =~ /^```/;
    next if $in_code;
    next unless $line =~ /^    (\S.*)$/;

    my $msg = $1;

    # a log line, not a shell command or a configuration line
    next if $msg =~ /^(?:\$ |#|curl |sudo |nginx |chmod |chown |ls |openssl |systemctl |journalctl |grep |env |cat |ss |ps |kill |printf |echo |export )/;
    next if $msg =~ /;\s*$|\{\s*$|^\}$/;

    my $orig = $msg;

    $msg =~ s/^\[\w+\] //;
    $msg =~ s/^\d+#\d+: //;
    $msg =~ s/^\*\d+ //;
    $msg =~ s/^\.\.\. //;
    $msg =~ s/, client: .*$//;
    $msg =~ s/ \.\.\.$//;
    $msg =~ s/ while (?:reading|sending|connecting)\b.*$//;

    # nginx appends " in FILE:LINE" and " (ERRNO: TEXT)" to some lines
    my @variants = ($msg);
    push @variants, $msg if $msg =~ s/ in FILE:LINE$//;
    push @variants, $msg if $msg =~ s/ \((?:\d+|ERRNO): [^)]*\)$//;

    # "%V" directive %s: the module's reason
    if ($msg =~ /^"(\w+)" directive (.+)$/ && $msg !~ $nginx[0]) {
        push @variants, $2;
    }

    my @inner = composed($msg);

    push @variants, grep { $_ ne '' } @inner;

    $n++;

    # nginx's own text, or the module's
    my $found = grep { my $v = $_; grep { $v =~ $_ } @nginx } @variants;
    my @unknown;

    $found = 1 if @inner && $inner[0] eq '';

    for my $v ($found ? () : @variants) {

        # what is not the module's own text: values, placeholders, the
        # texts of libcurl and Open Connectors
        (my $own = $v) =~ s/"[^"]*"|'[^']*'|\S+\.\.\.|\b[A-Z][A-Z0-9_]*(?::[A-Z]+)?\b|\d+//g;
        $own =~ s/( answered ): .*?(?= \(requestId|, the token|, retrying|$)/$1/;
        $own =~ s/( failed: ).*?(?=, retrying|, the token|$)/$1/;

        # the format that matches must be much of the line: "%V: %V" is
        # not; every word of the module's own text is a word of the source
        next unless grep { $v =~ $_->[0] && $_->[1] >= 0.4 * length $own }
                    @formats;

        @unknown = grep { !$word{$_} } $own =~ /([a-zA-Z][a-zA-Z0-9_]*)/g;
        $found = 1;
        last;
    }

    ok($found && !@unknown,
       "troubleshooting.md quotes a message of the source: $orig")
        or diag("no format string in ngx_oc_module/*.c matches \"$msg\""
                . (@unknown ? ", unknown words: @unknown" : ''));
}

cmp_ok($n, '>', 50, 'troubleshooting.md: log lines found');


# ---- one version: the header, CHANGELOG.md and debian/changelog agree -------

{
    my ($define) = slurp('ngx_oc_module/ngx_oc_version.h')
                   =~ /^#define NGX_OC_VERSION\s+"([^"]+)"/m;
    my @changes = slurp('CHANGELOG.md') =~ /^## (\d+\.\d+\.\d+) /mg;
    my @debian = slurp('debian/changelog')
                 =~ /^libnginx-mod-http-oc \((\d+\.\d+\.\d+)-\d+\)/mg;

    like($define // '', qr/^\d+\.\d+\.\d+$/, 'NGX_OC_VERSION is x.y.z');
    is($changes[0], $define, 'CHANGELOG.md: the newest entry is NGX_OC_VERSION');
    is($debian[0], $define, 'debian/changelog: the newest entry is NGX_OC_VERSION');
    is_deeply(\@debian, \@changes,
              'debian/changelog and CHANGELOG.md list the same versions');
}


# ---- the README's minimal configuration verifies what it proxies to ---------

{
    my ($conf) = slurp('README.md')
                 =~ /^## A minimal nginx\.conf\s*```nginx\n(.*?)```/ms;
    $conf //= '';

    like($conf, qr/^\s*proxy_pass\s+https:/m, 'README: proxies over https');
    like($conf, qr/^\s*proxy_ssl_verify\s+on;/m,
         'README: proxy_ssl_verify on');
    like($conf, qr/^\s*proxy_ssl_trusted_certificate\s+\S+;/m,
         'README: proxy_ssl_trusted_certificate');
    like($conf, qr/^\s*proxy_ssl_server_name\s+on;/m,
         'README: proxy_ssl_server_name on');
}


# ---- docs/limitations.md: one page, linked from the README ----------------

{
    my $lim = slurp('docs/limitations.md');
    my $words = () = $lim =~ /\S+/g;

    cmp_ok($words, '<', 1000, 'docs/limitations.md fits on one page');
    like(slurp('README.md'), qr/\(docs\/limitations\.md\)/,
         'README links to docs/limitations.md');

    for my $link ($lim =~ /\]\(([^)#]+\.md)(?:#[^)]*)?\)/g) {
        ok(-f "docs/$link", "docs/limitations.md: $link exists");
    }
}

done_testing;
