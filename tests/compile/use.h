/* use.h - touches every public function so a build proves they link. */
#ifndef VT_COMPILE_USE_H
#define VT_COMPILE_USE_H
static int vt_use_core(void)
{
    virtio_platform p;
    virtio_device d;
    virtio_queue q;
    virtio_sg sg;
    virtio_wait w;
    uint32_t v = 0;
    uint64_t v64 = 0;
    uint8_t v8 = 0;
    uint16_t v16 = 0;
    void *ptr = 0;
    int pending = 0;
    int bad = 0;
    memset(&p, 0, sizeof p);
    memset(&d, 0, sizeof d);
    memset(&q, 0, sizeof q);
    memset(&sg, 0, sizeof sg);
    bad += virtio_result_str(VIRTIO_ERR_TIMEOUT)[0] == 0;
    bad += virtio_mmio_probe(&d, &p, 0) == VIRTIO_OK;
    bad += virtio_mmio_find(&p, 0, 0, 0, 0, &v) == VIRTIO_OK;
    bad += virtio_pci_probe(&d, &p, 0) == VIRTIO_OK;
    bad += virtio_pci_probe_legacy(&d, &p, 0) == VIRTIO_OK;
    bad += virtio_pci_find(0, 0, &v) == VIRTIO_OK;
    bad += virtio_device_begin(&d, 0, 0) == VIRTIO_OK;
    bad += virtio_device_ready(&d) == VIRTIO_OK;
    bad += virtio_device_reset(&d) == VIRTIO_OK;
    bad += virtio_device_fail(&d) == VIRTIO_OK;
    bad += virtio_device_status(&d, &v) == VIRTIO_OK;
    bad += virtio_device_isr(&d, &v) == VIRTIO_OK;
    bad += virtio_device_has(&d, 1);
    bad += virtio_config_read(&d, 0, &v, 4) == VIRTIO_OK;
    bad += virtio_config_read8(&d, 0, &v8) == VIRTIO_OK;
    bad += virtio_config_read16(&d, 0, &v16) == VIRTIO_OK;
    bad += virtio_config_read32(&d, 0, &v) == VIRTIO_OK;
    bad += virtio_config_read64(&d, 0, &v64) == VIRTIO_OK;
    bad += virtio_config_write(&d, 0, 4, 0) == VIRTIO_OK;
    bad += virtio_queue_init(&q, &d, 0, 0) == VIRTIO_OK;
    bad += virtio_queue_add(&q, &sg, 1, 0, 0) == VIRTIO_OK;
    bad += virtio_queue_kick(&q) == VIRTIO_OK;
    bad += virtio_queue_pop(&q, &ptr, &v) == VIRTIO_OK;
    bad += virtio_queue_wait(&q, &ptr, &v) == VIRTIO_OK;
    bad += virtio_queue_enable_cb(&q, &pending) == VIRTIO_OK;
    bad += virtio_queue_disable_cb(&q) == VIRTIO_OK;
    bad += virtio_queue_destroy(&q) == VIRTIO_OK;
    bad += virtio_alloc(&p, 16, 16, VIRTIO_MEM_DMA, &ptr, &v64) == VIRTIO_OK;
    virtio_free(&p, ptr, 16, VIRTIO_MEM_DMA);
    bad += virtio_dma_map(&p, &v, 4, VIRTIO_DMA_TO_DEVICE, &sg, 1, 0, &v, 0) != VIRTIO_OK;
    virtio_dma_unmap(&p, &v, VIRTIO_DMA_TO_DEVICE, &sg, 1);
    virtio_wait_start(&w, &p, 1);
    bad += virtio_wait_step(&w) != VIRTIO_OK;
    virtio_log(&p, VIRTIO_LOG_INFO, VIRTIO_MSG_DRIVER, "x", 0);
    virtio_store(&d, &v, 1, 4);
    bad += virtio_load(&d, &v, 4) != 1;
    return bad;
}
#ifdef VIRTIO_BLK_H
static int vt_use_blk(void)
{
    virtio_device d;
    virtio_blk b;
    virtio_blk_request rq;
    char id[21];
    uint8_t buf[512];
    void *tok;
    virtio_result res;
    int bad = 0;
    memset(&d, 0, sizeof d);
    memset(&b, 0, sizeof b);
    memset(&rq, 0, sizeof rq);
    bad += virtio_blk_init(&b, &d, 0) == VIRTIO_OK;
    bad += virtio_blk_submit(&b, &rq) == VIRTIO_OK;
    bad += virtio_blk_kick(&b) == VIRTIO_OK;
    bad += virtio_blk_poll(&b, &tok, &res) == VIRTIO_OK;
    bad += virtio_blk_wait(&b, &tok, &res) == VIRTIO_OK;
    bad += virtio_blk_read(&b, 0, buf, sizeof buf) == VIRTIO_OK;
    bad += virtio_blk_write(&b, 0, buf, sizeof buf) == VIRTIO_OK;
    bad += virtio_blk_flush(&b) == VIRTIO_OK;
    bad += virtio_blk_discard(&b, 0, 1) == VIRTIO_OK;
    bad += virtio_blk_write_zeroes(&b, 0, 1, 0) == VIRTIO_OK;
    bad += virtio_blk_get_id(&b, id) == VIRTIO_OK;
    bad += virtio_blk_set_writeback(&b, 1) == VIRTIO_OK;
    bad += virtio_blk_refresh(&b, 0) == VIRTIO_OK;
    bad += virtio_blk_shutdown(&b) == VIRTIO_OK;
    return bad;
}
#else
static int vt_use_blk(void) { return 0; }
#endif
#ifdef VIRTIO_NET_H
static int vt_use_net(void)
{
    virtio_device d;
    virtio_net n;
    virtio_net_frame f;
    uint8_t buf[64], mac[6];
    uint32_t v;
    int bad = 0;
    memset(&d, 0, sizeof d);
    memset(&n, 0, sizeof n);
    memset(&f, 0, sizeof f);
    memset(buf, 0, sizeof buf);
    memset(mac, 0, sizeof mac);
    bad += virtio_net_init(&n, &d, 0) == VIRTIO_OK;
    bad += virtio_net_send(&n, buf, sizeof buf, 0) == VIRTIO_OK;
    bad += virtio_net_send_csum(&n, buf, sizeof buf, 34, 16, 0) == VIRTIO_OK;
    bad += virtio_net_kick(&n) == VIRTIO_OK;
    bad += virtio_net_reclaim(&n, &v) == VIRTIO_OK;
    bad += virtio_net_receive(&n, buf, sizeof buf, &f) == VIRTIO_OK;
    bad += virtio_net_borrow(&n, &f) == VIRTIO_OK;
    bad += virtio_net_give_back(&n, &f) == VIRTIO_OK;
    bad += virtio_net_refresh(&n, &v) == VIRTIO_OK;
    bad += virtio_net_set_promisc(&n, 1) == VIRTIO_OK;
    bad += virtio_net_set_allmulti(&n, 1) == VIRTIO_OK;
    bad += virtio_net_set_mac_filter(&n, 0, 0, 0, 0) == VIRTIO_OK;
    bad += virtio_net_set_mac(&n, mac) == VIRTIO_OK;
    bad += virtio_net_announce_ack(&n) == VIRTIO_OK;
    bad += virtio_net_shutdown(&n) == VIRTIO_OK;
    return bad;
}
#else
static int vt_use_net(void) { return 0; }
#endif
#ifdef VIRTIO_INPUT_H
static int vt_use_input(void)
{
    virtio_device d;
    virtio_input in;
    virtio_input_ev ev[4];
    virtio_input_axis ax;
    virtio_input_keys k;
    uint8_t bm[128];
    uint32_t v = 0;
    int bad = 0;
    char c;
    memset(&d, 0, sizeof d);
    memset(&in, 0, sizeof in);
    memset(ev, 0, sizeof ev);
    memset(&ax, 0, sizeof ax);
    memset(&k, 0, sizeof k);
    bad += virtio_input_init(&in, &d, 0) == VIRTIO_OK;
    bad += virtio_input_poll(&in, ev) == VIRTIO_OK;
    bad += virtio_input_read_report(&in, ev, 4, &v) == VIRTIO_OK;
    bad += virtio_input_query_bits(&in, VIRTIO_INPUT_EV_KEY, bm, &v) == VIRTIO_OK;
    bad += virtio_input_has_code(&in, VIRTIO_INPUT_EV_KEY, 30) == 1;
    bad += virtio_input_refresh(&in, &v) == VIRTIO_OK;
    bad += virtio_input_query_abs(&in, VIRTIO_INPUT_ABS_X, &ax) == VIRTIO_OK;
    bad += virtio_input_scale(&ax, 5, 100, &v) == VIRTIO_OK;
    bad += virtio_input_set_leds(&in, VIRTIO_INPUT_LEDS_CAPS) == VIRTIO_OK;
    ev[0].type = VIRTIO_INPUT_EV_KEY;
    ev[0].code = 30;
    ev[0].value = 1;
    bad += virtio_input_key_char(&k, ev, &c) != VIRTIO_OK || c != 'a';
    bad += virtio_input_shutdown(&in) == VIRTIO_OK;
    return bad;
}
#else
static int vt_use_input(void) { return 0; }
#endif
#ifdef VIRTIO_GPU_H
static int vt_use_gpu(void)
{
    virtio_device d;
    virtio_gpu g;
    virtio_gpu_fb fb;
    virtio_gpu_mode m;
    uint8_t edid[128];
    uint32_t cursor[64 * 64], n = 0;
    int bad = 0;
    memset(&d, 0, sizeof d);
    memset(&g, 0, sizeof g);
    memset(&fb, 0, sizeof fb);
    memset(edid, 0, sizeof edid);
    memset(cursor, 0, sizeof cursor);
    bad += virtio_gpu_init(&g, &d, 0) == VIRTIO_OK;
    bad += virtio_gpu_display_info(&g) == VIRTIO_OK;
    bad += virtio_gpu_get_edid(&g, 0, edid, sizeof edid, &n) == VIRTIO_OK;
    bad += virtio_gpu_edid_mode(edid, sizeof edid, &m) == VIRTIO_OK;
    bad += virtio_gpu_fb_create(&g, &fb, 64, 64, VIRTIO_GPU_PIX_B8G8R8X8, 0) == VIRTIO_OK;
    bad += virtio_gpu_set_scanout(&g, 0, &fb) == VIRTIO_OK;
    bad += virtio_gpu_disable_scanout(&g, 0) == VIRTIO_OK;
    bad += virtio_gpu_flush(&g, &fb, 0, 0, 1, 1) == VIRTIO_OK;
    bad += virtio_gpu_cursor_set(&g, 0, cursor, 0, 0, 0, 0) == VIRTIO_OK;
    bad += virtio_gpu_cursor_move(&g, 0, 1, 1) == VIRTIO_OK;
    bad += virtio_gpu_cursor_hide(&g, 0) == VIRTIO_OK;
    bad += virtio_gpu_refresh(&g, &n) == VIRTIO_OK;
    bad += virtio_gpu_rgb(VIRTIO_GPU_PIX_B8G8R8X8, 255, 0, 0) == 0;
    bad += virtio_gpu_put_rgb(cursor, VIRTIO_GPU_PIX_R8G8B8A8, 1, 2, 3) == VIRTIO_OK;
    bad += virtio_gpu_fb_destroy(&g, &fb) == VIRTIO_OK;
    bad += virtio_gpu_shutdown(&g) == VIRTIO_OK;
    return bad;
}
#else
static int vt_use_gpu(void) { return 0; }
#endif
#ifdef VIRTIO_CONSOLE_H
static int vt_use_console(void)
{
    virtio_device d;
    virtio_console c;
    char b[16];
    size_t n = 0;
    uint32_t changed = 0;
    int bad = 0;
    memset(&d, 0, sizeof d);
    memset(&c, 0, sizeof c);
    memset(b, 0, sizeof b);
    bad += virtio_console_init(&c, &d, 0) == VIRTIO_OK;
    bad += virtio_console_read(&c, 0, b, sizeof b, VIRTIO_CONSOLE_WAIT, &n) == VIRTIO_OK;
    bad += virtio_console_write(&c, 0, b, sizeof b, VIRTIO_MORE, &n) == VIRTIO_OK;
    bad += virtio_console_kick(&c) == VIRTIO_OK;
    bad += virtio_console_emerg_write(&c, "!", 1) == VIRTIO_OK;
    bad += virtio_console_refresh(&c, &changed) == VIRTIO_OK;
    bad += virtio_console_shutdown(&c) == VIRTIO_OK;
    return bad;
}
#else
static int vt_use_console(void) { return 0; }
#endif
#ifdef VIRTIO_RNG_H
static int vt_use_rng(void)
{
    virtio_device d;
    virtio_rng r;
    uint8_t b[16];
    size_t n = 0;
    uint32_t changed = 0;
    int bad = 0;
    memset(&d, 0, sizeof d);
    memset(&r, 0, sizeof r);
    bad += virtio_rng_init(&r, &d, 0) == VIRTIO_OK;
    bad += virtio_rng_read(&r, b, sizeof b, VIRTIO_RNG_WAIT, &n) == VIRTIO_OK;
    bad += virtio_rng_kick(&r) == VIRTIO_OK;
    bad += virtio_rng_refresh(&r, &changed) == VIRTIO_OK;
    bad += virtio_rng_shutdown(&r) == VIRTIO_OK;
    return bad;
}
#else
static int vt_use_rng(void) { return 0; }
#endif
#endif
