'use strict';
// One table per run — every scenario × every server, the ceilings, and each ratio target of the
// performance issue (met / not met) — as Markdown, JSON and an SVG chart.
const fs = require('node:fs');
const path = require('node:path');

const fmt = (n, digits = 0) =>
  n === null || n === undefined || Number.isNaN(n)
    ? '–'
    : Number(n).toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const pct = (n) => (n === null || n === undefined || Number.isNaN(n) ? '–' : `${(n * 100).toFixed(0)}%`);
const times = (n) => (n === null || n === undefined || Number.isNaN(n) ? '–' : `${n.toFixed(2)}×`);

const AUTHD = ['authd-1', 'authd-auto', 'authd-cores'];
const PEER_KEYS = ['oidc-memory', 'oidc-pg', 'oauth2-server-pg'];

/** Every target of the issue, for each authd configuration measured: { target, cells: { key: { text, met } } }. */
function targets(run) {
  const get = (key, scenario) => run.servers[key]?.scenarios[scenario];
  const c = run.ceilings;
  const fastestPeer = (scenario) =>
    PEER_KEYS.map((k) => ({ key: k, r: get(k, scenario) }))
      .filter((p) => p.r)
      .sort((a, b) => b.r.rps - a.r.rps)[0];
  const rows = [];
  const row = (target, cell) => {
    const cells = {};
    for (const key of AUTHD) if (run.servers[key]) cells[key] = cell(key) ?? { text: '–', met: null };
    rows.push({ target, cells });
  };
  const ratio = (key, scenario, versus, atLeast, show) => {
    const mine = get(key, scenario);
    if (!mine || !versus) return undefined;
    const value = mine.rps / versus;
    return { text: show(value, mine.rps), value, met: value >= atLeast };
  };
  const vsPeer = (scenario, peerKey, atLeast) => (key) => {
    const peer = get(peerKey, scenario);
    return (
      peer && ratio(key, scenario, peer.rps, atLeast, (v, rps) => `${times(v)} (${fmt(rps)}/s vs ${fmt(peer.rps)}/s)`)
    );
  };
  const vsFastest = (scenario, atLeast) => (key) => {
    const peer = fastestPeer(scenario);
    return (
      peer &&
      ratio(
        key,
        scenario,
        peer.r.rps,
        atLeast,
        (v, rps) => `${times(v)} (${fmt(rps)}/s vs ${fmt(peer.r.rps)}/s, ${run.servers[peer.key].label})`,
      )
    );
  };
  const ofCeiling = (scenario, ceiling, atLeast) => (key) =>
    ratio(key, scenario, ceiling, atLeast, (v, rps) => `${pct(v)} (${fmt(rps)}/s of ${fmt(ceiling)}/s)`);
  const p99 = (scenario) => (key) => {
    const mine = get(key, scenario);
    return mine && { text: `${fmt(mine.p99, 1)} ms`, value: mine.p99, met: mine.p99 <= 50 };
  };

  row('refresh_token ≥ 2× oidc-provider (Postgres adapter)', vsPeer('refresh_token', 'oidc-pg', 2));
  row(
    'refresh_token ≥ 60% of the pair-signing ceiling (jose concurrent ÷ 2)',
    ofCeiling('refresh_token', c.rs256PairSign, 0.6),
  );
  row('client_credentials ≥ 1.5× oidc-provider (memory)', vsPeer('client_credentials', 'oidc-memory', 1.5));
  row('JWKS ≥ 1.5× the fastest peer', vsFastest('JWKS', 1.5));
  row('discovery ≥ 1.5× the fastest peer', vsFastest('discovery', 1.5));
  row('introspection ≥ 25% of the one-core RS256 verify ceiling', ofCeiling('introspection', c.verifyOneCore, 0.25));
  row(
    `password ≥ 90% of the Argon2id ceiling (concurrency ${c.argon2Concurrency})`,
    ofCeiling('password', c.argon2Verify, 0.9),
  );
  row('password at 4× the connections: admitted p99 ≤ 1 s, the excess a fast 503 (p99 ≤ 1 s)', (key) => {
    const o = run.servers[key].overload;
    if (!o) return undefined;
    const other = Object.entries(o.statusCounts)
      .filter(([code]) => code !== '200' && code !== '503')
      .reduce((n, [, v]) => n + v, 0);
    const met = o.okP99 !== null && o.okP99 <= 1000 && (o.refusedP99 === null || o.refusedP99 <= 1000) && other === 0;
    return {
      text: `admitted p99 ${fmt(o.okP99)} ms, refused p99 ${fmt(o.refusedP99)} ms, ${JSON.stringify(o.statusCounts)}`,
      met,
    };
  });
  row(`refresh_token p99 ≤ 50 ms at ${run.connections} connections`, p99('refresh_token'));
  row(`client_credentials p99 ≤ 50 ms at ${run.connections} connections`, p99('client_credentials'));
  row('refresh with 1,000,000 tokens and 100,000 users ≥ 90% of the rate with 1,000', (key) => {
    const g = run.servers[key].growth;
    return (
      g && {
        text: `${pct(g.rps / g.baseRps)} (${fmt(g.rps)}/s vs ${fmt(g.baseRps)}/s; ${fmt(g.refreshTokens)} tokens, ${fmt(g.users)} users)`,
        value: g.rps / g.baseRps,
        met: g.rps / g.baseRps >= 0.9,
      }
    );
  });
  row('AUTHD_WORKERS=auto never slower than 1 worker', (key) => {
    if (key !== 'authd-auto' || !run.servers['authd-1']) return undefined;
    const slower = Object.entries(run.servers['authd-auto'].scenarios)
      .map(([name, r]) => ({ name, r, one: get('authd-1', name) }))
      .filter((s) => s.one && s.r.rps < s.one.rps);
    return {
      text: slower.length
        ? `slower on ${slower.map((s) => `${s.name} (${times(s.r.rps / s.one.rps)})`).join(', ')}`
        : 'not slower on any scenario',
      met: slower.length === 0,
    };
  });
  row(`peak RSS ≤ (Argon2 budget ${run.argon2.budgetMib} MB + 150 MB) per worker`, (key) => {
    const s = run.servers[key];
    const peak = Math.max(...Object.values(s.scenarios).map((r) => r.peakRssMb ?? 0), 0);
    const allowed = (run.argon2.budgetMib + 150) * s.workers;
    return peak ? { text: `${fmt(peak)} MB of ${fmt(allowed)} MB`, value: peak, met: peak <= allowed } : undefined;
  });
  return rows;
}

/** What authd ran with beyond the bench's defaults, so a lever's two files say which is which. */
function authdOptionsLine(run) {
  const o = run.authdOptions ?? {};
  const parts = [
    o.pgPrepared && 'AUTHD_PG_PREPARED_STATEMENTS=true',
    o.clientCacheTtl !== undefined && `AUTHD_CLIENT_CACHE_TTL=${o.clientCacheTtl}`,
    o.cpuProfile && 'under `node --cpu-prof` (rates lower than without)',
  ].filter(Boolean);
  const ceilings = Number.isNaN(run.ceilings.signOneCore) ? ['ceilings not measured (`--skip-ceilings`)'] : [];
  const all = [...parts, ...ceilings];
  return all.length ? [`authd: ${all.join('; ')}.`] : [];
}

function markdown(run, targetRows) {
  const m = run.machine;
  const keys = Object.keys(run.servers);
  const lines = [
    `# authd benchmark — ${run.label} — ${new Date(run.started).toISOString()}`,
    '',
    `${m.cores} cores, ${m.memoryGiB.toFixed(0)} GiB, Node ${m.node}; load average (1/5/15 min) ${m.loadBefore.map((l) => l.toFixed(2)).join(' / ')} at the start, ${m.loadAfter.map((l) => l.toFixed(2)).join(' / ')} at the end (the machine is shared).`,
    `Load: ${run.generator === 'wrk' ? `wrk, its own process, ${run.threads} threads` : 'autocannon, in the harness process (wrk was not available)'}, ${run.connections} keep-alive connections over loopback, ${run.seconds} s per scenario${run.warmupSeconds ? ` after a ${run.warmupSeconds} s warm-up` : ''}; PostgreSQL and Redis on the same machine.${run.smoke ? ' **Smoke run: the figures mean nothing.**' : ''}`,
    ...authdOptionsLine(run),
    '',
    '| scenario | server | rps | p50 ms | p99 ms | errors | server CPU | Postgres CPU | peak RSS MB | load generator CPU |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const resultRow = (name, label, r) =>
    `| ${name} | ${label} | ${fmt(r.rps)} | ${fmt(r.p50, 1)} | ${fmt(r.p99, 1)} | ${fmt(r.errors)} | ${pct(r.serverCpu)} | ${pct(r.postgresCpu)} | ${fmt(r.peakRssMb)} | ${pct(r.generatorCpu)} |`;
  const scenarioNames = [...new Set(keys.flatMap((k) => Object.keys(run.servers[k].scenarios)))];
  for (const name of scenarioNames) {
    for (const key of keys) {
      const r = run.servers[key].scenarios[name];
      if (r) lines.push(resultRow(name, run.servers[key].label, r));
    }
  }
  for (const key of keys) {
    const g = run.servers[key].growth;
    if (!g) continue;
    const label = run.servers[key].label;
    lines.push(resultRow('refresh_token, right before the growth seed', label, g.baseResult));
    lines.push(resultRow(`refresh_token, ${fmt(g.refreshTokens)} tokens / ${fmt(g.users)} users`, label, g.result));
  }
  const passwordAnswers = keys
    .filter((k) => run.servers[k].scenarios.password)
    .map((k) => `${run.servers[k].label} ${JSON.stringify(run.servers[k].scenarios.password.statusCounts)}`);
  if (passwordAnswers.length) lines.push('', `Password answers by status: ${passwordAnswers.join('; ')}.`);
  const c = run.ceilings;
  const both = (k, digits = 0) =>
    run.smoke
      ? fmt(run.ceilingsBefore[k], digits)
      : `${fmt(run.ceilingsBefore[k], digits)} / ${fmt(run.ceilingsAfter[k], digits)}`;
  lines.push(
    '',
    "errors: answers ≥ 400 plus socket errors and timeouts (for authd's password grant, mostly its fast 503 refusals past the Argon2 queue). CPU: cores busy over the measured seconds (100% = one core), the server's process tree from /proc; Postgres: the backends connected to that server's database. Peak RSS: VmHWM summed over the server's processes, reset before each scenario. Load generator CPU: wrk's own process, sampled from /proc (– for autocannon, which runs inside the harness).",
    '',
    '## Ceilings (in-process, same run: before the servers / after them; ratios use the larger)',
    '',
    `- Argon2id verify (m=${run.argon2.memoryKiB} KiB, t=${run.argon2.timeCost}, p=${run.argon2.parallelism}) at authd's configured concurrency ${c.argon2Concurrency}: ${both('argon2Verify', 1)}/s`,
    `- RS256 sign, one core (node:crypto): ${both('signOneCore')}/s; jose, ${run.connections} concurrent: ${both('signConcurrent')}/s; pair signing (access + refresh) = half of that: ${both('rs256PairSign')}/s`,
    `- RS256 verify, one core (node:crypto): ${both('verifyOneCore')}/s`,
    `- PostgreSQL single-row UPDATE, 32 in flight: ${both('postgresUpdate')}/s`,
    '',
    '## Targets',
    '',
    `| target | ${AUTHD.filter((k) => run.servers[k])
      .map((k) => run.servers[k].label)
      .join(' | ')} |`,
    `|---|${AUTHD.filter((k) => run.servers[k])
      .map(() => '---')
      .join('|')}|`,
    ...targetRows.map(
      (t) =>
        `| ${t.target} | ${Object.values(t.cells)
          .map((cell) => (cell.met === null ? cell.text : `${cell.text}: **${cell.met ? 'met' : 'not met'}**`))
          .join(' | ')} |`,
    ),
  );
  for (const key of keys) {
    const o = run.servers[key].overload;
    if (o)
      lines.push(
        '',
        `Password overload, ${run.servers[key].label}: ${o.connections} connections (autocannon, which keeps admitted and refused latencies apart): ${fmt(o.rps)}/s admitted, admitted p99 ${fmt(o.okP99)} ms, refused (503) p99 ${fmt(o.refusedP99)} ms; answers ${JSON.stringify(o.statusCounts)}.`,
      );
  }
  return lines.join('\n') + '\n';
}

const COLORS = {
  'authd-1': '#1f6feb',
  'authd-auto': '#54aeff',
  'authd-cores': '#0a3069',
  'oidc-memory': '#8c959f',
  'oidc-pg': '#57606a',
  'oauth2-server-pg': '#bf8700',
};

/** Bars per scenario, each group scaled to its own largest figure (the rates differ 100-fold). */
function svg(run) {
  const keys = Object.keys(run.servers);
  const names = [...new Set(keys.flatMap((k) => Object.keys(run.servers[k].scenarios)))];
  const bar = 14;
  const width = 720;
  const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');
  let y = 50;
  const parts = [
    `<text x="0" y="16" font-size="13" font-weight="bold">requests/s by scenario (${esc(run.label)}; each group scaled to its largest bar)</text>`,
  ];
  for (const [i, k] of keys.entries()) {
    parts.push(
      `<rect x="${i * 140}" y="24" width="10" height="10" fill="${COLORS[k] ?? '#000'}"/><text x="${i * 140 + 14}" y="33" font-size="10">${esc(run.servers[k].label)}</text>`,
    );
  }
  for (const name of names) {
    const rows = keys.map((k) => ({ k, r: run.servers[k].scenarios[name] })).filter((x) => x.r);
    const max = Math.max(...rows.map((x) => x.r.rps), 1);
    parts.push(`<text x="0" y="${y + 11}" font-size="12">${esc(name)}</text>`);
    for (const { k, r } of rows) {
      const w = (r.rps / max) * (width - 240);
      parts.push(
        `<rect x="150" y="${y}" width="${w.toFixed(1)}" height="${bar - 2}" fill="${COLORS[k] ?? '#000'}"/><text x="${155 + w}" y="${y + 10}" font-size="10">${Math.round(r.rps)}/s</text>`,
      );
      y += bar;
    }
    y += 10;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 10}" font-family="sans-serif">${parts.join('')}</svg>\n`;
}

function writeResults(run, dir) {
  const targetRows = targets(run);
  fs.mkdirSync(dir, { recursive: true });
  const files = {
    [`${run.label}.md`]: markdown(run, targetRows),
    [`${run.label}.json`]: JSON.stringify({ ...run, targets: targetRows }, null, 2) + '\n',
    [`${run.label}.svg`]: svg(run),
  };
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
  process.stdout.write(files[`${run.label}.md`]);
  return Object.keys(files).map((f) => path.relative(process.cwd(), path.join(dir, f)));
}

module.exports = { writeResults, targets };
