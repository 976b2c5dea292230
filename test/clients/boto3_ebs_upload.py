"""Uploads a snapshot through amiboot's EBS direct APIs with boto3's `ebs`
client, as any EBS-direct tool would, and prints what the endpoint answered
as JSON. The keys and the endpoint come from the environment."""

import base64
import hashlib
import json
import os

import boto3

endpoint = os.environ["AMIBOOT_ENDPOINT"]
ebs = boto3.client("ebs", endpoint_url=endpoint, region_name="us-east-1")
ec2 = boto3.client("ec2", endpoint_url=endpoint, region_name="us-east-1")

BLOCK = 512 * 1024
blocks = {0: b"\x11" * BLOCK, 2: bytes(range(256)) * (BLOCK // 256)}

start = ebs.start_snapshot(VolumeSize=1, Description="boto3 upload")
snap = start["SnapshotId"]
digests = []
for index in sorted(blocks):
    data = blocks[index]
    digest = hashlib.sha256(data).digest()
    digests.append(digest)
    ebs.put_snapshot_block(
        SnapshotId=snap,
        BlockIndex=index,
        BlockData=data,
        DataLength=len(data),
        Checksum=base64.b64encode(digest).decode(),
        ChecksumAlgorithm="SHA256",
    )
aggregate = base64.b64encode(hashlib.sha256(b"".join(digests)).digest()).decode()
done = ebs.complete_snapshot(
    SnapshotId=snap, ChangedBlocksCount=len(blocks), Checksum=aggregate, ChecksumAlgorithm="SHA256", ChecksumAggregationMethod="LINEAR"
)
listed = ebs.list_snapshot_blocks(SnapshotId=snap)
described = ec2.describe_snapshots(SnapshotIds=[snap])["Snapshots"][0]
print(
    json.dumps(
        {
            "status": done["Status"],
            "blocks": [b["BlockIndex"] for b in listed["Blocks"]],
            "described": {k: described[k] for k in ("State", "OwnerId", "VolumeSize")},
        }
    )
)
