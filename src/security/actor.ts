/** Who is calling: the authenticated user of a request, as every service sees it. */
export interface Actor {
  id: string;
  role: 'admin' | 'member';
}
