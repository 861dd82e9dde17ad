/** Reads of `user_logins` that the commands show to their user. */
import type { Database } from "./database.ts";

/** Any `masked_ip` token in `user_logins`, for an example; undefined when the table is empty. */
export async function anyIpToken(db: Database): Promise<string | undefined> {
  const [row] = await db<{ maskedIp: string }[]>`
    SELECT masked_ip FROM user_logins WHERE masked_ip IS NOT NULL LIMIT 1`;
  return row?.maskedIp;
}
