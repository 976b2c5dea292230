"""The image flows of amiboot's EC2 endpoint, driven by Debian's python3-boto3.

Run by test/integration/python-clients.test.ts as `/usr/bin/python3 -I
boto3_flows.py`; the test starts the endpoint, makes the accounts and the
snapshot, and passes them in the environment variable AMIBOOT_CLIENT (JSON:
endpoint, snapshotId, owner and other, each {accountId, accessKeyId,
secretAccessKey}). The script makes the calls a user would and prints one JSON
object: what each call answered (ids, states, error codes), which the test
checks. An answer boto3 cannot parse is an exception: its traceback goes to
stderr, the results so far to stdout, and the exit code is 1.
"""

import json
import os
import sys
import traceback

import boto3
import botocore
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

# Debian 12's botocore (1.29.27) predates DescribeImages' MaxResults/NextToken;
# Debian's awscli package ships a newer EC2 model that has them and a paginator.
AWSCLI_DATA = "/usr/lib/python3/dist-packages/awscli/botocore/data"

config = json.loads(os.environ["AMIBOOT_CLIENT"])
ENDPOINT = config["endpoint"]
SNAPSHOT = config["snapshotId"]
OWNER = config["owner"]
OTHER = config["other"]
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def ec2(who, region="us-east-1", secret=None, session=None):
    """A boto3 EC2 client for one account, pointed at amiboot."""
    return (session or boto3.Session()).client(
        "ec2",
        endpoint_url=ENDPOINT,
        region_name=region,
        aws_access_key_id=who["accessKeyId"],
        aws_secret_access_key=secret or who["secretAccessKey"],
        config=NO_RETRIES,
    )


def error_of(call, **kwargs):
    """The ClientError a call raises, as {code, message, status}."""
    try:
        call(**kwargs)
    except ClientError as e:
        return {
            "code": e.response["Error"]["Code"],
            "message": e.response["Error"]["Message"],
            "status": e.response["ResponseMetadata"]["HTTPStatusCode"],
        }
    raise AssertionError(f"{call.__name__}({kwargs}) succeeded; an EC2 error was expected")


def register(client, name):
    return client.register_image(
        Name=name,
        Description=f"{name}, registered by boto3",
        Architecture="i386",
        VirtualizationType="hvm",
        RootDeviceName="/dev/sda1",
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": SNAPSHOT}}],
    )["ImageId"]


def image_ids(images):
    return [i["ImageId"] for i in images]


def flows(out):
    owner = ec2(OWNER)
    other = ec2(OTHER)
    out["client"] = {"boto3": boto3.__version__, "botocore": botocore.__version__, "boto3File": boto3.__file__, "python": sys.executable}

    # Register, then find it among the owner's images by a wildcard name.
    image_id = register(owner, "py-hvm-1")
    unrelated_id = register(owner, "unrelated-image")
    out["register"] = {"imageId": image_id, "unrelatedId": unrelated_id}
    mine = owner.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": ["py-*"]}])["Images"]
    out["describeByName"] = mine

    # Tags.
    owner.create_tags(Resources=[image_id], Tags=[{"Key": "team", "Value": "boot"}, {"Key": "stage", "Value": "test"}])
    out["tagged"] = owner.describe_images(ImageIds=[image_id])["Images"][0]["Tags"]
    out["byTag"] = image_ids(owner.describe_images(Filters=[{"Name": "tag:team", "Values": ["bo*"]}])["Images"])

    # Share with the second account: it sees the image as executable by itself.
    out["otherBeforeShare"] = image_ids(other.describe_images(ExecutableUsers=["self"])["Images"])
    owner.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"UserId": OTHER["accountId"]}]})
    out["launchPermissions"] = owner.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")["LaunchPermissions"]
    out["otherAfterShare"] = other.describe_images(ExecutableUsers=["self"])["Images"]

    # Copy to another region: the copy is asked for in the destination region.
    copy_id = ec2(OWNER, "eu-west-1").copy_image(SourceImageId=image_id, SourceRegion="us-east-1", Name="py-hvm-1-copy", CopyImageTags=True)["ImageId"]
    out["copy"] = ec2(OWNER, "eu-west-1").describe_images(ImageIds=[copy_id])["Images"][0]
    copy_snapshot = out["copy"]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    out["copySnapshot"] = ec2(OWNER, "eu-west-1").describe_snapshots(SnapshotIds=[copy_snapshot])["Snapshots"]
    out["copyInSourceRegion"] = image_ids(owner.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": ["py-hvm-1-copy"]}])["Images"])

    # Deregister: gone from listings, still answered by id with its state.
    owner.deregister_image(ImageId=image_id)
    out["afterDeregister"] = {
        "listed": image_ids(owner.describe_images(Owners=["self"])["Images"]),
        "byId": [{"ImageId": i["ImageId"], "State": i["State"]} for i in owner.describe_images(ImageIds=[image_id])["Images"]],
        "copyStillThere": image_ids(ec2(OWNER, "eu-west-1").describe_images(Owners=["self"])["Images"]),
    }

    # Errors, as botocore's ClientError.
    out["errors"] = {
        "malformed": error_of(owner.describe_images, ImageIds=["ami-nope"]),
        "wrongSecret": error_of(ec2(OWNER, secret="not-the-secret").describe_images, Owners=["self"]),
        "notFound": error_of(owner.deregister_image, ImageId="ami-0123456789abcdef0"),
        "duplicateName": error_of(owner.register_image, Name="unrelated-image", RootDeviceName="/dev/sda1", BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": SNAPSHOT}}]),
    }

    # Pagination with boto3's paginator: five more images, pages of two.
    for n in range(5):
        register(owner, f"page-{n}")
    paginated = ec2(OWNER, session=paging_session())
    pages = paginated.get_paginator("describe_images").paginate(Owners=["self"], Filters=[{"Name": "name", "Values": ["page-*"]}], PaginationConfig={"PageSize": 2})
    out["pagination"] = [{"names": [i["Name"] for i in p["Images"]], "nextToken": "NextToken" in p} for p in pages]


def paging_session():
    """A boto3 session whose EC2 model has DescribeImages' paginator (see AWSCLI_DATA)."""
    if ec2(OWNER).can_paginate("describe_images"):
        return boto3.Session()
    core = botocore.session.get_session()
    core.get_component("data_loader").search_paths.insert(0, AWSCLI_DATA)
    return boto3.Session(botocore_session=core)


def main():
    out = {}
    try:
        flows(out)
    except Exception:
        traceback.print_exc()
        print(json.dumps(out, default=str))
        return 1
    print(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
