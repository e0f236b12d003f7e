/* The device: opened once per context (cm_ctx.c), its port queried and its GID chosen. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msg.h"
#include "verbs.h"

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int is_ipv4_mapped(const union ibv_gid *gid)
{
	static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	return memcmp(gid->raw, prefix, sizeof(prefix)) == 0;
}

static const char *gid_type_name(unsigned type)
{
	switch (type) {
	case IBV_GID_TYPE_IB:
		return "IB";
	case IBV_GID_TYPE_ROCE_V1:
		return "RoCE v1";
	case IBV_GID_TYPE_ROCE_V2:
		return "RoCE v2";
	default:
		return "unknown type";
	}
}

/* Pick the GID: the requested index, or on RoCE the first RoCE v2 IPv4-mapped entry. */
static int choose_gid(struct srdma_dev *dev, int want, char *err, size_t errlen)
{
	struct ibv_gid_entry entry;
	int i;

	if (!dev->is_roce && want < 0) {
		dev->gid_index = -1;
		snprintf(dev->gid_desc, sizeof(dev->gid_desc), "InfiniBand, LID routed");
		return 0;
	}
	for (i = want < 0 ? 0 : want; i < dev->port_attr.gid_tbl_len; i++) {
		if (ibv_query_gid_ex(dev->ctx, dev->port, (uint32_t)i, &entry, 0))
			goto next;
		if (want < 0 && (entry.gid_type != IBV_GID_TYPE_ROCE_V2 ||
				 !is_ipv4_mapped((const union ibv_gid *)&entry.gid)))
			goto next;
		memcpy(&dev->gid, &entry.gid, sizeof(dev->gid));
		dev->gid_index = i;
		snprintf(dev->gid_desc, sizeof(dev->gid_desc), "%s%s",
			 gid_type_name(entry.gid_type),
			 is_ipv4_mapped(&dev->gid) ? ", IPv4-mapped" : "");
		return 0;
	next:
		if (want >= 0)
			break;
	}
	if (want >= 0)
		set_err(err, errlen, "%s port %u has no usable GID at index %d", dev->name,
			dev->port, want);
	else
		set_err(
		    err, errlen,
		    "%s port %u has no RoCE v2 IPv4-mapped GID: give the netdev an IPv4 address, "
		    "or choose an index with -x",
		    dev->name, dev->port);
	return -ENOENT;
}

int srdma_dev_open(const char *name, uint8_t port, int gid_index, struct srdma_dev **out, char *err,
		   size_t errlen)
{
	struct ibv_device **list;
	struct ibv_device *found = NULL;
	struct srdma_dev *dev;
	int num = 0, i, ret;

	list = ibv_get_device_list(&num);
	if (!list || num == 0) {
		set_err(
		    err, errlen,
		    "no RDMA device found (is an RDMA driver loaded? without RDMA hardware, see "
		    "the README section \"Soft-RoCE\")");
		if (list)
			ibv_free_device_list(list);
		return -ENODEV;
	}
	for (i = 0; i < num; i++) {
		if (!name || !name[0] || strcmp(ibv_get_device_name(list[i]), name) == 0) {
			found = list[i];
			break;
		}
	}
	if (!found) {
		set_err(err, errlen, "RDMA device \"%s\" not found (see ibv_devices)", name);
		ibv_free_device_list(list);
		return -ENODEV;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev) {
		ibv_free_device_list(list);
		return -ENOMEM;
	}
	snprintf(dev->name, sizeof(dev->name), "%s", ibv_get_device_name(found));
	dev->port = port;
	dev->ctx = ibv_open_device(found);
	ibv_free_device_list(list);
	if (!dev->ctx) {
		ret = errno ? -errno : -ENODEV;
		set_err(err, errlen, "cannot open RDMA device %s: %s", dev->name, strerror(-ret));
		goto err_free;
	}
	ret = -ibv_query_device(dev->ctx, &dev->attr);
	if (ret) {
		set_err(err, errlen, "cannot query %s: %s", dev->name, strerror(-ret));
		goto err_close;
	}
	ret = -ibv_query_port(dev->ctx, port, &dev->port_attr);
	if (ret) {
		set_err(err, errlen, "cannot query %s port %u: %s", dev->name, port,
			strerror(-ret));
		goto err_close;
	}
	if (dev->port_attr.state != IBV_PORT_ACTIVE) {
		set_err(err, errlen, "%s port %u is not active (state %s)", dev->name, port,
			ibv_port_state_str(dev->port_attr.state));
		ret = -ENETDOWN;
		goto err_close;
	}
	dev->is_roce = dev->port_attr.link_layer == IBV_LINK_LAYER_ETHERNET;
	ret = choose_gid(dev, gid_index, err, errlen);
	if (ret)
		goto err_close;
	*out = dev;
	return 0;

err_close:
	ibv_close_device(dev->ctx);
err_free:
	free(dev);
	return ret;
}

void srdma_dev_close(struct srdma_dev *dev)
{
	if (!dev)
		return;
	if (dev->ctx)
		ibv_close_device(dev->ctx);
	free(dev);
}
