'use strict';
// Writes the results table (Markdown + JSON) and a small SVG bar chart to bench/results/.
const fs = require('node:fs');
const path = require('node:path');

const fmt = (n, digits = 0) => (n === null || n === undefined || Number.isNaN(n) ? '–' : Number(n).toFixed(digits));
const pct = (n) => (n === null || n === undefined || Number.isNaN(n) ? '–' : `${(n * 100).toFixed(0)}%`);

/** Each authd figure's ceiling and peer, and the target the issue sets for it. */
function ratios(run) {
  const { ceilings, peer } = run;
  const by = (name) => run.results.find((r) => r.name === name);
  const rows = [
    { name: 'password grant', ceiling: ['Argon2id verify', ceilings.argon2Verify], target: '≥ 90% of ceiling' },
    { name: 'refresh grant', ceiling: ['RS256 pair signing', ceilings.rs256PairSign], target: '≥ 60% of ceiling' },
    { name: 'client_credentials', ceiling: ['RS256 signing', ceilings.rs256Sign], peer: peer.clientCredentials, target: '≥ 1.5× peer' },
    { name: 'JWKS', peer: peer.jwks, target: '≥ 1.2× peer' },
    { name: 'introspection', ceiling: ['RS256 verify', ceilings.rs256Verify], target: '≥ 5,000/s (guide)' },
    { name: 'revocation', ceiling: ['RS256 verify', ceilings.rs256Verify] },
    { name: 'peer client_credentials' },
    { name: 'peer JWKS' },
    { name: 'refresh grant, 1M tokens', ceiling: ['RS256 pair signing', ceilings.rs256PairSign], target: '≥ 90% of the 1,000-token rate' },
  ];
  return rows.filter((row) => by(row.name)).map((row) => {
    const result = by(row.name);
    return {
      ...result,
      ceilingName: row.ceiling?.[0],
      ceilingRps: row.ceiling?.[1],
      ofCeiling: row.ceiling ? result.rps / row.ceiling[1] : null,
      peerRps: row.peer?.rps ?? null,
      vsPeer: row.peer ? result.rps / row.peer.rps : null,
      target: row.target ?? '',
    };
  });
}

function markdown(run, rows) {
  const lines = [
    `# authd benchmark — ${run.started.toISOString()}`,
    '',
    `${run.cores} cores; authd with ${run.workers} worker(s); ${run.seconds} s per scenario; ${run.connections} connections over loopback (autocannon, in the harness process); PostgreSQL and Redis on the same machine.${run.smoke ? ' **Smoke run: figures are not meaningful.**' : ''}`,
    '',
    '| scenario | rps | p50 ms | p99 ms | errors | server CPU | ceiling | of ceiling | peer rps | × peer | target |',
    '|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|',
    ...rows.map((r) => `| ${r.name} | ${fmt(r.rps)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${r.errors} | ${pct(r.serverCpu)} | ${r.ceilingName ? `${r.ceilingName} ${fmt(r.ceilingRps)}/s` : '–'} | ${pct(r.ofCeiling)} | ${fmt(r.peerRps)} | ${r.vsPeer === null ? '–' : `${r.vsPeer.toFixed(2)}×`} | ${r.target} |`),
    '',
    '## Ceilings (in-process, same run)',
    '',
    `- Argon2id verify (m=19456 KiB, t=2, p=1, ${run.cores} concurrent): ${fmt(run.ceilings.argon2Verify, 1)}/s`,
    `- RS256 sign (jose, ${run.connections} concurrent): ${fmt(run.ceilings.rs256Sign)}/s; pair signing (access + refresh): ${fmt(run.ceilings.rs256PairSign)}/s`,
    `- RS256 verify (jose): ${fmt(run.ceilings.rs256Verify)}/s`,
    `- PostgreSQL single-row UPDATE round trip (${run.connections} connections): ${fmt(run.ceilings.postgresUpdate)}/s`,
  ];
  const password = run.results.find((r) => r.name === 'password grant');
  if (password?.overload) {
    const o = password.overload;
    lines.push('', '## Password grant under overload', '',
      `${run.cores * 16} connections: ${fmt(o.rps)}/s admitted, admitted p99 ${fmt(o.okP99)} ms, refused (503) p99 ${fmt(o.refusedP99)} ms; answers ${JSON.stringify(o.statusCounts)}.`);
  }
  if (run.memory) lines.push('', '## Memory', '', `authd peak RSS after the password-grant load: ${fmt(run.memory.peakRssMb)} MB (Argon2 budget ${run.memory.argon2BudgetMb} MB + 150 MB = ${run.memory.argon2BudgetMb + 150} MB allowed).`);
  if (run.growth) lines.push('', '## Growth', '', `${run.growth.rows.toLocaleString('en')} refresh tokens stored: refresh ${fmt(run.growth.after)}/s vs ${fmt(run.growth.before)}/s with 1,000 — ${pct(run.growth.after / run.growth.before)}.`);
  return lines.join('\n') + '\n';
}

function svg(rows) {
  const width = 640;
  const bar = 22;
  const height = 40 + rows.length * (bar + 12);
  const max = Math.max(...rows.map((r) => Math.max(r.rps, r.peerRps ?? 0)), 1);
  const scale = (v) => (v / max) * (width - 220);
  const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts = rows.map((r, i) => {
    const y = 30 + i * (bar + 12);
    return [
      `<text x="0" y="${y + 15}" font-size="12">${esc(r.name)}</text>`,
      `<rect x="170" y="${y}" width="${scale(r.rps).toFixed(1)}" height="${r.peerRps ? bar / 2 : bar}" fill="#1f6feb"/>`,
      r.peerRps ? `<rect x="170" y="${y + bar / 2}" width="${scale(r.peerRps).toFixed(1)}" height="${bar / 2}" fill="#8c959f"/>` : '',
      `<text x="${175 + scale(r.rps)}" y="${y + 12}" font-size="11">${Math.round(r.rps)}/s</text>`,
    ].join('');
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">` +
    `<text x="0" y="16" font-size="13" font-weight="bold">authd requests/s (blue) vs oidc-provider (grey)</text>${parts.join('')}</svg>\n`;
}

function writeResults(run) {
  const rows = ratios(run);
  const dir = path.join(__dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const base = run.smoke ? 'smoke' : run.label ? `lever-${run.label}` : 'latest';
  const files = {
    [`${base}.md`]: markdown(run, rows),
    [`${base}.json`]: JSON.stringify({ ...run, rows }, null, 2) + '\n',
    [`${base}.svg`]: svg(rows),
  };
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
  process.stdout.write(files[`${base}.md`]);
  return Object.keys(files).map((f) => path.join('bench/results', f));
}

module.exports = { writeResults, ratios };
