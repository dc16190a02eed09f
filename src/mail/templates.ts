import type { MailMessage } from './transport';

export interface MailBranding {
  brandName: string;
  brandColor: string;
  logoUrl: string | undefined;
}

export interface MailContent {
  subject: string;
  heading: string;
  /** Plain sentences; escaped for the HTML part. */
  paragraphs: string[];
  action?: { label: string; url: string };
  /** The closing line: why the recipient got this mail, what to do if it was not them. */
  footer: string;
}

const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * One message in two parts: plain text (the link on a line of its own, so any client can open
 * it) and HTML with the hosted pages' brand name, colour and logo. Inline styles only: mail
 * clients drop style sheets.
 */
export function renderMail(to: string, content: MailContent, brand: MailBranding): MailMessage {
  const text = [
    content.heading,
    '',
    ...content.paragraphs.flatMap((p) => [p, '']),
    ...(content.action ? [`${content.action.label}:`, content.action.url, ''] : []),
    '-- ',
    content.footer,
    brand.brandName,
    '',
  ].join('\n');
  const color = escapeHtml(brand.brandColor);
  const logo = brand.logoUrl
    ? `<img src="${escapeHtml(brand.logoUrl)}" alt="" height="32" style="vertical-align:middle;margin-right:8px">`
    : '';
  const button = content.action
    ? `<p style="margin:24px 0"><a href="${escapeHtml(content.action.url)}" style="background:${color};color:#ffffff;padding:10px 18px;border-radius:6px;text-decoration:none;display:inline-block">${escapeHtml(content.action.label)}</a></p>
<p style="font-size:13px;color:#555555">Or open this address: <br><a href="${escapeHtml(content.action.url)}" style="color:${color};word-break:break-all">${escapeHtml(content.action.url)}</a></p>`
    : '';
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escapeHtml(content.subject)}</title></head>
<body style="margin:0;padding:24px;background:#f4f5f7;font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1f2328">
<div style="max-width:480px;margin:0 auto;background:#ffffff;border-radius:8px;padding:24px;border-top:4px solid ${color}">
<p style="margin:0 0 16px;font-weight:600">${logo}${escapeHtml(brand.brandName)}</p>
<h1 style="font-size:20px;margin:0 0 16px">${escapeHtml(content.heading)}</h1>
${content.paragraphs.map((p) => `<p style="line-height:1.5">${escapeHtml(p)}</p>`).join('\n')}
${button}
<p style="font-size:13px;color:#555555;border-top:1px solid #e5e7eb;padding-top:12px;margin-top:24px">${escapeHtml(content.footer)}</p>
</div></body></html>
`;
  return { to, subject: content.subject, text, html };
}
