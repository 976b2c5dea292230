import { Ec2Error } from "../errors.js";
import type { Db } from "../store/db.js";

export interface Tag {
  key: string;
  value: string;
}

/** At most this many tags per resource, as EC2 allows. */
export const MAX_TAGS = 50;

/**
 * Tags of any resource (images, snapshots, instances), by resource id. The
 * caller has already checked that the resources exist and are the caller's.
 */
export class Tags {
  constructor(private readonly db: Db) {}

  /** Adds or overwrites tags; a resource that would pass 50 tags leaves every resource unchanged. */
  set(resourceIds: string[], tags: Tag[], op: string): void {
    checkTags(tags, op);
    const upsert = this.db.prepare("insert into tags (resource_id, key, value) values (?, ?, ?) on conflict (resource_id, key) do update set value = excluded.value");
    const count = this.db.prepare("select count(*) as n from tags where resource_id = ?");
    this.db.transaction(() => {
      for (const id of resourceIds) {
        for (const t of tags) upsert.run(id, t.key, t.value);
        const n = (count.get(id) as { n: number }).n;
        // Thrown inside the transaction: none of the tags are kept.
        if (n > MAX_TAGS) throw new Ec2Error("TagLimitExceeded", `The maximum number of Tags for a resource has been reached (${MAX_TAGS}); ${id} would have ${n}`, op);
      }
    })();
  }

  /** Removes tags; a tag given with a value goes only when the value matches; no tags at all removes every tag. */
  remove(resourceIds: string[], tags: { key: string; value?: string }[]): void {
    this.db.transaction(() => {
      for (const id of resourceIds) {
        if (tags.length === 0) this.db.prepare("delete from tags where resource_id = ?").run(id);
        for (const t of tags) {
          if (t.value === undefined) this.db.prepare("delete from tags where resource_id = ? and key = ?").run(id, t.key);
          else this.db.prepare("delete from tags where resource_id = ? and key = ? and value = ?").run(id, t.key, t.value);
        }
      }
    })();
  }

  of(resourceId: string): Tag[] {
    return this.db.prepare("select key, value from tags where resource_id = ? order by key").all(resourceId) as Tag[];
  }

  /** Tags of many resources in one query. */
  ofMany(resourceIds: string[]): Map<string, Tag[]> {
    const out = new Map<string, Tag[]>();
    for (let i = 0; i < resourceIds.length; i += 500) {
      const ids = resourceIds.slice(i, i + 500);
      const rows = this.db
        .prepare(`select resource_id, key, value from tags where resource_id in (${ids.map(() => "?").join(",")}) order by resource_id, key`)
        .all(...ids) as { resource_id: string; key: string; value: string }[];
      for (const r of rows) {
        let list = out.get(r.resource_id);
        if (!list) out.set(r.resource_id, (list = []));
        list.push({ key: r.key, value: r.value });
      }
    }
    return out;
  }

  /** Deletes every tag of a resource that is gone for good. */
  forget(resourceId: string): void {
    this.db.prepare("delete from tags where resource_id = ?").run(resourceId);
  }
}

/** EC2's tag rules, checked before anything is stored. */
export function checkTags(tags: Tag[], op: string): void {
  if (tags.length > MAX_TAGS) throw new Ec2Error("TagLimitExceeded", `The maximum number of Tags for a resource has been reached (${MAX_TAGS}); the request has ${tags.length}`, op);
  for (const t of tags) {
    if (t.key.length < 1 || t.key.length > 128) throw new Ec2Error("InvalidParameterValue", "Tag key must be 1 to 128 characters long", op);
    if (t.value.length > 256) throw new Ec2Error("InvalidParameterValue", "Tag value exceeds the maximum length of 256 characters", op);
    if (t.key.toLowerCase().startsWith("aws:")) throw new Ec2Error("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use", op);
  }
}
