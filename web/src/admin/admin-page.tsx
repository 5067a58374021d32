/** The admin pages (README "Playground"): a sub-navigation of the sections and the current one. */
import type { ChatdClient } from '../../../src/client';
import { ADMIN_SECTIONS, href, type AdminSection } from '../router';
import './admin.css';
import { ApprovalPolicy } from './approval-policy';
import { Limits } from './limits';
import { McpServers } from './mcp-servers';
import { Models } from './models';
import { Providers } from './providers';
import { Users } from './users';

const TITLES: Record<AdminSection, string> = {
  providers: 'Providers',
  models: 'Models',
  users: 'Users',
  limits: 'Limits & costs',
  mcp: 'MCP servers',
  approvals: 'Tool approval',
};

export function AdminPage({ client, section }: { client: ChatdClient; section: AdminSection }) {
  return (
    <section class="admin" aria-labelledby="admin-title">
      <h1 id="admin-title">Admin</h1>
      <nav class="admin-nav" aria-label="Admin sections">
        {ADMIN_SECTIONS.map((s) => (
          <a key={s} href={href({ page: 'admin', section: s })} aria-current={s === section ? 'page' : undefined}>
            {TITLES[s]}
          </a>
        ))}
      </nav>
      <AdminSectionView key={section} client={client} section={section} />
    </section>
  );
}

function AdminSectionView({ client, section }: { client: ChatdClient; section: AdminSection }) {
  switch (section) {
    case 'providers':
      return <Providers client={client} />;
    case 'models':
      return <Models client={client} />;
    case 'users':
      return <Users client={client} />;
    case 'limits':
      return <Limits client={client} />;
    case 'mcp':
      return <McpServers client={client} />;
    case 'approvals':
      return <ApprovalPolicy client={client} />;
  }
}
