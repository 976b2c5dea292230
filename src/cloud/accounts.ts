import { randomBytes } from "node:crypto";
import type { Db } from "../store/db.js";

export interface Credentials {
  accountId: string;
  accessKeyId: string;
  secretAccessKey: string;
}

const KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** Accounts (12-digit ids) and their access keys, as IAM would issue them. */
export class Accounts {
  constructor(private readonly db: Db) {}

  create(): Credentials {
    const accountId = String(100000000000 + (randomBytes(6).readUIntBE(0, 6) % 900000000000));
    const accessKeyId = `AKIA${Array.from(randomBytes(16), (b) => KEY_ALPHABET[b % 32]).join("")}`;
    const secretAccessKey = randomBytes(30).toString("base64");
    const now = new Date().toISOString();
    this.db.transaction(() => {
      this.db.prepare("insert into accounts (id, created_at) values (?, ?)").run(accountId, now);
      this.db.prepare("insert into access_keys (access_key_id, secret, account_id, created_at) values (?, ?, ?, ?)").run(accessKeyId, secretAccessKey, accountId, now);
    })();
    return { accountId, accessKeyId, secretAccessKey };
  }

  /** The first account ever created, made on first use: the one `amiboot serve` prints. */
  defaultAccount(): Credentials {
    const row = this.db
      .prepare("select k.account_id as accountId, k.access_key_id as accessKeyId, k.secret as secretAccessKey from access_keys k order by k.created_at, k.rowid limit 1")
      .get() as Credentials | undefined;
    return row ?? this.create();
  }

  secretOf(accessKeyId: string): string | undefined {
    return (this.db.prepare("select secret from access_keys where access_key_id = ?").get(accessKeyId) as { secret: string } | undefined)?.secret;
  }

  accountOf(accessKeyId: string): string | undefined {
    return (this.db.prepare("select account_id from access_keys where access_key_id = ?").get(accessKeyId) as { account_id: string } | undefined)?.account_id;
  }

  exists(accountId: string): boolean {
    return this.db.prepare("select 1 from accounts where id = ?").get(accountId) !== undefined;
  }
}
